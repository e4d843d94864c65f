// Element-wise activations on oneDNN's JIT eltwise (vectorised exp/tanh/erf) where 2.6 has the
// function, and plain loops for softsign and hard_sigmoid, which it lacks. selu is oneDNN's elu with
// selu's alpha, then a scaling pass: that keeps oneDNN's vectorised exp. The backward reads y for the
// algorithms oneDNN can differentiate from their output (relu, sigmoid, tanh, exp), x for the rest.
// The oneDNN 2.x op descriptors stay in this file.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "common.h"
#include "kernels.h"

namespace digits {
namespace {

using dnnl::algorithm;

constexpr float kSeluScale = 1.0507009873554805f, kSeluAlpha = 1.6732632423543772f;

struct Alg {
  algorithm alg;
  float alpha, beta;
  bool fromDst;  // the backward reads y (DNNL_ARG_DST) rather than x (DNNL_ARG_SRC)
};

// Every kind except linear, softsign and hard_sigmoid (handled before this is called).
Alg algOf(Act kind, float alpha) {
  switch (kind) {
    case Act::relu: return {algorithm::eltwise_relu_use_dst_for_bwd, 0.f, 0.f, true};
    case Act::sigmoid: return {algorithm::eltwise_logistic_use_dst_for_bwd, 0.f, 0.f, true};
    case Act::tanh: return {algorithm::eltwise_tanh_use_dst_for_bwd, 0.f, 0.f, true};
    case Act::exponential: return {algorithm::eltwise_exp_use_dst_for_bwd, 0.f, 0.f, true};
    // elu_use_dst_for_bwd needs alpha ≥ 0, and leaky relu's slope may be negative: both from x
    case Act::elu: return {algorithm::eltwise_elu, alpha, 0.f, false};
    case Act::selu: return {algorithm::eltwise_elu, kSeluAlpha, 0.f, false};
    case Act::leaky_relu: return {algorithm::eltwise_relu, alpha, 0.f, false};
    // clip_v2, unlike clip, passes no gradient at the upper bound either, as TF's relu6 does
    case Act::relu6: return {algorithm::eltwise_clip_v2, 0.f, 6.f, false};
    case Act::softplus: return {algorithm::eltwise_soft_relu, 0.f, 0.f, false};
    case Act::swish: return {algorithm::eltwise_swish, 1.f, 0.f, false};
    case Act::gelu: return {algorithm::eltwise_gelu_erf, 0.f, 0.f, false};
    default: return {algorithm::eltwise_mish, 0.f, 0.f, false};
  }
}

struct Eltwise {
  Port in, out, extra;  // fwd: x → y; bwd: (x or y, dy) → dx with x or y in `extra`
  Bound op;
};

thread_local Cache<Eltwise> cache;
const ClearOnSetThreads clearer([] { cache.clear(); });

Key keyOf(int64_t dir, Act kind, float alpha, int64_t len) {
  uint32_t bits;
  std::memcpy(&bits, &alpha, sizeof bits);
  return Key{{dir, static_cast<int64_t>(kind), static_cast<int64_t>(bits), len}};
}

dnnl::eltwise_forward::primitive_desc forwardPd(const Alg& a, const memory::desc& md) {
  dnnl::eltwise_forward::desc d(dnnl::prop_kind::forward_training, a.alg, md, a.alpha, a.beta);
  return {d, baseAttr(), cpuEngine()};
}

Eltwise& forwardFor(Act kind, float alpha, int64_t len) {
  auto& slot = slotFor(cache, keyOf(0, kind, alpha, len));
  if (slot) return *slot;
  auto md = f32md({len}, tag::x);
  auto pd = forwardPd(algOf(kind, alpha), md);
  auto e = std::make_unique<Eltwise>();
  e->in.init(md, pd.src_desc(), true);
  e->out.init(md, pd.dst_desc(), false);
  e->op = Bound(dnnl::eltwise_forward(pd), pd.scratchpad_desc());
  e->op.arg(DNNL_ARG_SRC, e->in.inner());
  e->op.arg(DNNL_ARG_DST, e->out.inner());
  slot = std::move(e);
  return *slot;
}

Eltwise& backwardFor(Act kind, float alpha, int64_t len) {
  auto& slot = slotFor(cache, keyOf(1, kind, alpha, len));
  if (slot) return *slot;
  auto md = f32md({len}, tag::x);
  const Alg a = algOf(kind, alpha);
  dnnl::eltwise_backward::desc d(a.alg, md, md, a.alpha, a.beta);
  dnnl::eltwise_backward::primitive_desc pd(d, baseAttr(), cpuEngine(), forwardPd(a, md));
  auto e = std::make_unique<Eltwise>();
  e->in.init(md, pd.diff_dst_desc(), true);
  e->extra.init(md, a.fromDst ? pd.dst_desc() : pd.src_desc(), true);
  e->out.init(md, pd.diff_src_desc(), false);
  e->op = Bound(dnnl::eltwise_backward(pd), pd.scratchpad_desc());
  e->op.arg(a.fromDst ? DNNL_ARG_DST : DNNL_ARG_SRC, e->extra.inner());
  e->op.arg(DNNL_ARG_DIFF_DST, e->in.inner());
  e->op.arg(DNNL_ARG_DIFF_SRC, e->out.inner());
  slot = std::move(e);
  return *slot;
}

// Memory-bound passes: a second thread only pays off on large arrays.
constexpr int64_t kParallel = 1 << 17;

void scale(float* v, float s, int64_t len) {
#pragma omp parallel for simd schedule(static) if (len > kParallel)
  for (int64_t i = 0; i < len; i++) v[i] *= s;
}

// The kinds oneDNN 2.6 lacks; false when `kind` is not one of them.
bool forwardLoop(Act kind, const float* x, float* y, int64_t len, float alpha) {
  if (kind == Act::softsign) {
#pragma omp parallel for simd schedule(static) if (len > kParallel)
    for (int64_t i = 0; i < len; i++) y[i] = x[i] / (1.f + std::fabs(x[i]));
    return true;
  }
  if (kind == Act::hard_sigmoid) {
#pragma omp parallel for simd schedule(static) if (len > kParallel)
    // std::min/max rather than fminf/fmaxf, whose NaN rules keep the loop from vectorising
    for (int64_t i = 0; i < len; i++) y[i] = std::min(std::max(alpha * x[i] + 0.5f, 0.f), 1.f);
    return true;
  }
  return false;
}

bool backwardLoop(Act kind, const float* x, const float* dy, float* dx, int64_t len, float alpha) {
  if (kind == Act::softsign) {
#pragma omp parallel for simd schedule(static) if (len > kParallel)
    for (int64_t i = 0; i < len; i++) {
      const float d = 1.f + std::fabs(x[i]);
      dx[i] = dy[i] / (d * d);
    }
    return true;
  }
  if (kind == Act::hard_sigmoid) {
#pragma omp parallel for simd schedule(static) if (len > kParallel)
    for (int64_t i = 0; i < len; i++) {
      const float v = alpha * x[i] + 0.5f;
      dx[i] = v > 0.f && v < 1.f ? dy[i] * alpha : 0.f;
    }
    return true;
  }
  return false;
}

// Kinds without a parameter all use alpha 0, so a stray alpha does not make them new cache entries.
float alphaFor(Act kind, float alpha) {
  return kind == Act::elu || kind == Act::leaky_relu || kind == Act::hard_sigmoid ? alpha : 0.f;
}

}  // namespace

void eltwiseForward(Act kind, const float* x, float* y, int64_t len, float alpha) {
  if (len <= 0) return;
  alpha = alphaFor(kind, alpha);
  if (kind == Act::linear) {
    if (x != y) std::memmove(y, x, sizeof(float) * static_cast<size_t>(len));
    return;
  }
  if (forwardLoop(kind, x, y, len, alpha)) return;
  Eltwise& e = forwardFor(kind, alpha, len);
  e.in.set(x);
  e.out.set(y);
  e.op.run();
  waitStream();
  if (kind == Act::selu) scale(y, kSeluScale, len);
}

void eltwiseBackward(Act kind, const float* x, const float* y, const float* dy, float* dx, int64_t len, float alpha) {
  if (len <= 0) return;
  alpha = alphaFor(kind, alpha);
  if (kind == Act::linear) {
    if (dy != dx) std::memmove(dx, dy, sizeof(float) * static_cast<size_t>(len));
    return;
  }
  if (backwardLoop(kind, x, dy, dx, len, alpha)) return;
  Eltwise& e = backwardFor(kind, alpha, len);
  e.extra.set(algOf(kind, alpha).fromDst ? y : x);
  e.in.set(dy);
  e.out.set(dx);
  e.op.run();
  waitStream();
  if (kind == Act::selu) scale(dx, kSeluScale, len);
}

}  // namespace digits
