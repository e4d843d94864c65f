#include "common.h"

#include <omp.h>

#include <map>
#include <mutex>

#include "kernels.h"

namespace digits {

dnnl::engine& cpuEngine() {
  static dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  return eng;
}

// One stream per calling thread (a server's worker threads each run kernels): oneDNN streams are not
// thread-safe, and the primitive caches beside them are thread_local for the same reason.
static dnnl::stream& cpuStream() {
  thread_local dnnl::stream s(cpuEngine());
  return s;
}

void waitStream() { cpuStream().wait(); }

size_t KeyHash::operator()(const Key& k) const noexcept {
  uint64_t h = 1469598103934665603ull;  // FNV-1a over the slots: keys are small integers
  for (int64_t x : k.v) {
    h ^= static_cast<uint64_t>(x);
    h *= 1099511628211ull;
  }
  return static_cast<size_t>(h);
}

static std::vector<void (*)()>& clearers() {
  static std::vector<void (*)()> fns;
  return fns;
}
ClearOnSetThreads::ClearOnSetThreads(void (*fn)()) { clearers().push_back(fn); }
void clearCaches() {
  for (auto fn : clearers()) fn();
}

dnnl::primitive_attr baseAttr() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

Bound::Bound(const dnnl::primitive& p, const memory::desc& scratchpad) : prim_(p) {
  if (scratchpad.get_size() > 0) arg(DNNL_ARG_SCRATCHPAD, memory(scratchpad, cpuEngine()));
}

void Bound::arg(int which, const memory& m) {
  keep_.push_back(m);
  args_.push_back({which, m.get()});
}

void Bound::run() const {
  dnnl_status_t st = dnnl_primitive_execute(prim_.get(), cpuStream().get(), static_cast<int>(args_.size()),
                                            args_.data());
  if (st != dnnl_success) throw dnnl::error(st, "digits: primitive execution failed");
}

// oneDNN 2.x exposes a descriptor's layout through its C struct (3.x has getters instead).
// Two plain layouts that differ only in the stride of a size-1 dimension (nhwc vs nchw when c = 1)
// address the same bytes, so they need no reorder.
static bool sameBytes(const memory::desc& a, const memory::desc& b) {
  if (a == b) return true;
  const dnnl_memory_desc_t &x = a.data, &y = b.data;
  if (x.format_kind != dnnl_blocked || y.format_kind != dnnl_blocked) return false;
  if (x.ndims != y.ndims || x.data_type != y.data_type || x.offset0 != y.offset0) return false;
  if (x.extra.flags != 0 || y.extra.flags != 0) return false;
  const auto &bx = x.format_desc.blocking, &by = y.format_desc.blocking;
  if (bx.inner_nblks != 0 || by.inner_nblks != 0) return false;
  for (int i = 0; i < x.ndims; i++) {
    if (x.dims[i] != y.dims[i] || x.padded_dims[i] != y.padded_dims[i]) return false;
    if (x.dims[i] > 1 && bx.strides[i] != by.strides[i]) return false;
  }
  return true;
}

void Port::init(const memory::desc& user, const memory::desc& wanted, bool input) {
  auto& eng = cpuEngine();
  input_ = input;
  user_ = memory(user, eng, DNNL_MEMORY_NONE);
  if (sameBytes(user, wanted)) {
    inner_ = memory(wanted, eng, DNNL_MEMORY_NONE);
    return;
  }
  reorder_ = true;
  inner_ = memory(wanted, eng);
  const memory& from = input ? user_ : inner_;
  const memory& to = input ? inner_ : user_;
  dnnl::reorder::primitive_desc pd(eng, from.get_desc(), eng, to.get_desc(), baseAttr());
  re_ = Bound(dnnl::reorder(pd), pd.scratchpad_desc());
  re_.arg(DNNL_ARG_FROM, from);
  re_.arg(DNNL_ARG_TO, to);
}

void Port::set(const void* p) const {
  void* h = const_cast<void*>(p);  // inputs are only read, but oneDNN's handle type is non-const
  user_.set_data_handle(h);
  if (!reorder_) inner_.set_data_handle(h);
}

memory::desc f32md(const memory::dims& d, tag t) { return memory::desc(d, dt::f32, t); }

static dt precision = dt::f32;
dt computeType() { return precision; }

bool setPrecision(bool bf16) {
  if (bf16 && !hasBf16()) return false;
  precision = bf16 ? dt::bf16 : dt::f32;
  return true;
}

bool hasBf16() {
  // oneDNN 2.x runs bf16 on avx512_core through emulation too, but only natively (avx512_bf16, AMX) is
  // it faster than f32.
  auto isa = dnnl::get_effective_cpu_isa();
  return isa == dnnl::cpu_isa::avx512_core_bf16 || isa == dnnl::cpu_isa::avx512_core_amx;
}

std::string cpuIsa() {
  using dnnl::cpu_isa;
  switch (dnnl::get_effective_cpu_isa()) {
    case cpu_isa::sse41: return "sse41";
    case cpu_isa::avx: return "avx";
    case cpu_isa::avx2: return "avx2";
    case cpu_isa::avx2_vnni: return "avx2_vnni";
    case cpu_isa::avx512_mic: return "avx512_mic";
    case cpu_isa::avx512_mic_4ops: return "avx512_mic_4ops";
    case cpu_isa::avx512_core: return "avx512_core";
    case cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case cpu_isa::avx512_core_amx: return "avx512_core_amx";
    default: return "generic";
  }
}

std::string onednnVersion() {
  const dnnl_version_t* v = dnnl_version();
  return std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
}

int maxThreads() { return omp_get_max_threads(); }

void setThreads(int n) {
  omp_set_num_threads(n < 1 ? 1 : n);
  clearCaches();
}

}  // namespace digits
