// Dense layers as oneDNN matmul rather than inner_product: matmul takes the Keras [in, out] kernel
// and its transposes through strides alone, so no call reorders the weights (inner_product wants
// them in a blocked layout, a per-call copy of up to 9216x128 floats for seed004).
// The oneDNN 2.x op descriptors stay in this file.
#include <cstring>

#include "common.h"
#include "kernels.h"

namespace digits {
namespace {

// A matmul C[m, n] = A[m, k] · B[k, n] (+ bias, ReLU) whose operands may be transposed views.
struct Matmul {
  Port a, b, bias, c;
  Bound mm;
};

thread_local Cache<Matmul> matmuls;
const ClearOnSetThreads clearer([] { matmuls.clear(); });

Matmul& matmulFor(int64_t m, int64_t k, int64_t n, tag ta, tag tb, bool bias, bool relu) {
  const dt ct = computeType();
  auto& slot = slotFor(matmuls, Key{{m, k, n, static_cast<int64_t>(ta), static_cast<int64_t>(tb), bias, relu,
                                     static_cast<int64_t>(ct)}});
  if (slot) return *slot;
  auto aMd = f32md({m, k}, ta), bMd = f32md({k, n}, tb), cMd = f32md({m, n}, tag::ab);
  auto biasMd = bias ? f32md({1, n}, tag::ab) : memory::desc();
  // bf16 operands in the caller's layout; Port converts the f32 arrays into them
  dnnl::matmul::desc d(memory::desc({m, k}, ct, ta), memory::desc({k, n}, ct, tb), biasMd, cMd);
  auto attr = baseAttr();
  if (relu) {
    dnnl::post_ops po;
    po.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
    attr.set_post_ops(po);
  }
  dnnl::matmul::primitive_desc pd(d, attr, cpuEngine());
  auto e = std::make_unique<Matmul>();
  e->a.init(aMd, pd.src_desc(), true);
  e->b.init(bMd, pd.weights_desc(), true);
  if (bias) e->bias.init(biasMd, pd.bias_desc(), true);
  e->c.init(cMd, pd.dst_desc(), false);
  e->mm = Bound(dnnl::matmul(pd), pd.scratchpad_desc());
  e->mm.arg(DNNL_ARG_SRC, e->a.inner());
  e->mm.arg(DNNL_ARG_WEIGHTS, e->b.inner());
  if (bias) e->mm.arg(DNNL_ARG_BIAS, e->bias.inner());
  e->mm.arg(DNNL_ARG_DST, e->c.inner());
  slot = std::move(e);
  return *slot;
}

void run(Matmul& e, const float* a, const float* b, const float* bias, float* c) {
  e.a.set(a);
  e.b.set(b);
  if (bias) e.bias.set(bias);
  e.c.set(c);
  e.a.before();
  e.b.before();
  if (bias) e.bias.before();
  e.mm.run();
  e.c.after();
  waitStream();
}

}  // namespace

void denseForward(int64_t n, int64_t in, int64_t out, const float* x, const float* w, const float* b, float* y,
                  bool relu) {
  run(matmulFor(n, in, out, tag::ab, tag::ab, b != nullptr, relu), x, w, b, y);
}

void denseBackwardData(int64_t n, int64_t in, int64_t out, const float* dy, const float* w, float* dx) {
  // dx = dy · wᵀ: w [in, out] read as an [out, in] matrix with swapped strides
  run(matmulFor(n, out, in, tag::ab, tag::ba, false, false), dy, w, nullptr, dx);
}

void denseBackwardWeights(int64_t n, int64_t in, int64_t out, const float* x, const float* dy, float* dw,
                          float* db) {
  // dw = xᵀ · dy: x [n, in] read as [in, n]
  run(matmulFor(in, n, out, tag::ba, tag::ab, false, false), x, dy, nullptr, dw);
  if (!db) return;
  std::memset(db, 0, sizeof(float) * static_cast<size_t>(out));
  for (int64_t r = 0; r < n; r++) {
    const float* row = dy + r * out;
    for (int64_t j = 0; j < out; j++) db[j] += row[j];
  }
}

}  // namespace digits
