// Element-wise activations on oneDNN's JIT eltwise (vectorised exp/tanh). The *_use_dst_for_bwd
// algorithms compute the backward from the saved output y, which is this interface's convention.
// The oneDNN 2.x op descriptors stay in this file.
#include <cstring>

#include "common.h"
#include "kernels.h"

namespace digits {
namespace {

using dnnl::algorithm;

algorithm algorithmOf(Act kind) {
  switch (kind) {
    case Act::relu: return algorithm::eltwise_relu_use_dst_for_bwd;
    case Act::sigmoid: return algorithm::eltwise_logistic_use_dst_for_bwd;
    default: return algorithm::eltwise_tanh_use_dst_for_bwd;
  }
}

struct Eltwise {
  Port in, out, extra;  // fwd: x → y; bwd: (y, dy) → dx with y in `extra`
  Bound op;
};

Cache<Eltwise> cache;
const ClearOnSetThreads clearer([] { cache.clear(); });

dnnl::eltwise_forward::primitive_desc forwardPd(algorithm alg, const memory::desc& md) {
  dnnl::eltwise_forward::desc d(dnnl::prop_kind::forward_training, alg, md, 0.f, 0.f);
  return {d, baseAttr(), cpuEngine()};
}

Eltwise& forwardFor(Act kind, int64_t len) {
  auto& slot = slotFor(cache, Key{{0, static_cast<int64_t>(kind), len}});
  if (slot) return *slot;
  auto md = f32md({len}, tag::x);
  auto pd = forwardPd(algorithmOf(kind), md);
  auto e = std::make_unique<Eltwise>();
  e->in.init(md, pd.src_desc(), true);
  e->out.init(md, pd.dst_desc(), false);
  e->op = Bound(dnnl::eltwise_forward(pd), pd.scratchpad_desc());
  e->op.arg(DNNL_ARG_SRC, e->in.inner());
  e->op.arg(DNNL_ARG_DST, e->out.inner());
  noteImpl("eltwise fwd", pd.impl_info_str());
  slot = std::move(e);
  return *slot;
}

Eltwise& backwardFor(Act kind, int64_t len) {
  auto& slot = slotFor(cache, Key{{1, static_cast<int64_t>(kind), len}});
  if (slot) return *slot;
  auto md = f32md({len}, tag::x);
  algorithm alg = algorithmOf(kind);
  dnnl::eltwise_backward::desc d(alg, md, md, 0.f, 0.f);
  dnnl::eltwise_backward::primitive_desc pd(d, baseAttr(), cpuEngine(), forwardPd(alg, md));
  auto e = std::make_unique<Eltwise>();
  e->in.init(md, pd.diff_dst_desc(), true);
  e->extra.init(md, pd.dst_desc(), true);
  e->out.init(md, pd.diff_src_desc(), false);
  e->op = Bound(dnnl::eltwise_backward(pd), pd.scratchpad_desc());
  e->op.arg(DNNL_ARG_DST, e->extra.inner());
  e->op.arg(DNNL_ARG_DIFF_DST, e->in.inner());
  e->op.arg(DNNL_ARG_DIFF_SRC, e->out.inner());
  noteImpl("eltwise bwd", pd.impl_info_str());
  slot = std::move(e);
  return *slot;
}

}  // namespace

void eltwiseForward(Act kind, const float* x, float* y, int64_t len) {
  if (len <= 0) return;
  if (kind == Act::linear) {
    if (x != y) std::memmove(y, x, sizeof(float) * static_cast<size_t>(len));
    return;
  }
  Eltwise& e = forwardFor(kind, len);
  e.in.set(x);
  e.out.set(y);
  e.op.run();
  waitStream();
}

void eltwiseBackward(Act kind, const float* y, const float* dy, float* dx, int64_t len) {
  if (len <= 0) return;
  if (kind == Act::linear) {
    if (dy != dx) std::memmove(dx, dy, sizeof(float) * static_cast<size_t>(len));
    return;
  }
  Eltwise& e = backwardFor(kind, len);
  e.extra.set(y);
  e.in.set(dy);
  e.out.set(dx);
  e.op.run();
  waitStream();
}

}  // namespace digits
