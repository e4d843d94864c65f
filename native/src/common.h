// Shared oneDNN plumbing: the engine and stream, the primitive caches' key, and the two helpers
// (Bound, Port) that let a cached primitive run with no allocation once it has been built.
#pragma once
#include <oneapi/dnnl/dnnl.hpp>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace digits {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

dnnl::engine& cpuEngine();
void waitStream();

// Key of a primitive cache: the op's geometry and flags; unused slots stay zero.
struct Key {
  std::array<int64_t, 16> v{};
};
inline bool operator==(const Key& a, const Key& b) { return a.v == b.v; }
struct KeyHash {
  size_t operator()(const Key& k) const noexcept;
};
template <class T>
using Cache = std::unordered_map<Key, std::unique_ptr<T>, KeyHash>;

// A model has a few layers and batch sizes, so a cache that outgrows this (say, inference on many
// batch sizes) is simply emptied: a miss costs one primitive creation, about a millisecond.
constexpr size_t kMaxCached = 64;
template <class T>
std::unique_ptr<T>& slotFor(Cache<T>& cache, const Key& key) {
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  if (cache.size() >= kMaxCached) cache.clear();
  return cache[key];
}

// setThreads must drop every cached primitive: oneDNN kernels split their work for the thread count
// seen when they were created, so each family registers its caches' clear function with a
// namespace-scope `const ClearOnSetThreads x(fn);`. Caches, scratch vectors and the stream are
// thread_local: several worker threads (digits serve) may call kernels at once, each with its own,
// and setThreads (a per-thread OpenMP setting) clears the calling thread's.
struct ClearOnSetThreads {
  explicit ClearOnSetThreads(void (*fn)());
};
void clearCaches();

// Every primitive uses a user scratchpad so that running it never allocates inside oneDNN.
dnnl::primitive_attr baseAttr();

// A primitive with its argument list bound once: a call only swaps data handles, then runs it
// through the C API, whose array-of-args form does not build a std::unordered_map per call.
class Bound {
 public:
  Bound() = default;
  Bound(const dnnl::primitive& p, const memory::desc& scratchpad);
  void arg(int which, const memory& m);
  void run() const;

 private:
  dnnl::primitive prim_;
  std::vector<memory> keep_;
  std::vector<dnnl_exec_arg_t> args_;
};

// A tensor in the caller's layout and, when the primitive prefers another one, a buffer in that
// layout with the reorder between the two (run before the primitive for inputs, after for outputs).
class Port {
 public:
  void init(const memory::desc& user, const memory::desc& wanted, bool input);
  void set(const void* p) const;
  void before() const {
    if (reorder_ && input_) re_.run();
  }
  void after() const {
    if (reorder_ && !input_) re_.run();
  }
  const memory& inner() const { return inner_; }

 private:
  memory user_, inner_;
  Bound re_;
  bool reorder_ = false, input_ = true;
};

memory::desc f32md(const memory::dims& d, tag t);

// Data type of the compute operands (src, weights, diff_dst) of conv and matmul primitives: f32, or
// bf16 under setPrecision("bf16"). Results (dst, diff_src, diff_weights) stay f32 either way, so
// the JS side only ever sees f32 and the master weights stay f32.
dt computeType();

}  // namespace digits
