// Convolutions on oneDNN. Everything that depends on the oneDNN 2.x API (op descriptors, which 3.x
// folds into the primitive_desc constructors) stays in this file's anonymous namespace.
#include "common.h"
#include "kernels.h"

#include <cstring>
#include <vector>

namespace digits {
namespace {

using dnnl::algorithm;
using dnnl::prop_kind;

struct Shapes {
  memory::dims src, wei, bias, dst, strides, padL, padR;
};

Shapes shapesOf(const ConvGeom& g) {
  // TF 'same' puts the extra pad at bottom/right; for 'valid' convolutions whose last window
  // doesn't reach the edge the exact value is negative, which oneDNN's own formula (floor division)
  // makes unnecessary, so clamp it when the output size still comes out right.
  auto far = [](int64_t in, int64_t out, int64_t k, int64_t s, int64_t lo) {
    int64_t p = (out - 1) * s + k - in - lo;
    return (p < 0 && (in - k + lo) / s + 1 == out) ? 0 : p;
  };
  return {{g.n, g.c, g.h, g.w},
          {g.f, g.c, g.kh, g.kw},
          {g.f},
          {g.n, g.f, g.oh, g.ow},
          {g.sh, g.sw},
          {g.padTop, g.padLeft},
          {far(g.h, g.oh, g.kh, g.sh, g.padTop), far(g.w, g.ow, g.kw, g.sw, g.padLeft)}};
}

Key keyOf(const ConvGeom& g, int64_t a, int64_t b) {
  return Key{{g.n, g.h, g.w, g.c, g.f, g.oh, g.ow, g.kh, g.kw, g.sh, g.sw, g.padTop, g.padLeft, a, b,
              static_cast<int64_t>(computeType())}};
}

memory::desc ctmd(const memory::dims& d, tag t) { return memory::desc(d, computeType(), t); }

// oneDNN 2.6's bf16 weight-gradient kernel (jit_bf16) splits its reduction badly when there are few
// output pixels: measured here it is ~2x faster than f32 at n·oh·ow ≥ 7,700 with stride 1 (seed002's
// 64x11x11, the 14x14 and 28x28 layers) but up to 30x slower at ≤ 3,200 (64x3x3, 32x10x10) and on
// seed003's stride-2 128x7x7 (6,272). Those stay f32.
dt bwdWeightsType(const ConvGeom& g) {
  return g.n * g.oh * g.ow >= 7500 && g.sh == 1 && g.sw == 1 ? computeType() : dt::f32;
}

// Activations are described as NHWC so no reorder touches them; a "ref" implementation means no
// optimised kernel takes NHWC for this shape, and then a blocked layout plus reorders is faster.
bool isRef(const char* impl) { return std::string(impl).rfind("ref", 0) == 0; }

template <class Make>
auto pickLayout(Make make) {
  auto pd = make(tag::nhwc);
  if (!isRef(pd.impl_info_str())) return pd;
  auto alt = make(tag::any);
  return isRef(alt.impl_info_str()) ? pd : alt;
}

dnnl::convolution_forward::primitive_desc forwardPd(const Shapes& s, tag act, bool bias, bool relu,
                                                    dt ct = computeType()) {
  dnnl::convolution_forward::desc d(prop_kind::forward_training, algorithm::convolution_direct,
                                    memory::desc(s.src, ct, act), memory::desc(s.wei, ct, tag::any),
                                    bias ? f32md(s.bias, tag::x) : memory::desc(), f32md(s.dst, act), s.strides,
                                    s.padL, s.padR);
  auto attr = baseAttr();
  if (relu) {
    dnnl::post_ops po;
    po.append_eltwise(1.f, algorithm::eltwise_relu, 0.f, 0.f);
    attr.set_post_ops(po);
  }
  return {d, attr, cpuEngine()};
}

dnnl::convolution_backward_data::primitive_desc backwardDataPd(const Shapes& s, tag act) {
  dnnl::convolution_backward_data::desc d(algorithm::convolution_direct, f32md(s.src, act),
                                          ctmd(s.wei, tag::any), ctmd(s.dst, act), s.strides, s.padL, s.padR);
  return {d, baseAttr(), cpuEngine(), forwardPd(s, act, false, false)};
}

dnnl::convolution_backward_weights::primitive_desc backwardWeightsPd(const ConvGeom& g, const Shapes& s, tag act,
                                                                      bool bias) {
  const dt ct = bwdWeightsType(g);
  dnnl::convolution_backward_weights::desc d(algorithm::convolution_direct, memory::desc(s.src, ct, act),
                                             f32md(s.wei, tag::any), bias ? f32md(s.bias, tag::x) : memory::desc(),
                                             memory::desc(s.dst, ct, act), s.strides, s.padL, s.padR);
  return {d, baseAttr(), cpuEngine(), forwardPd(s, act, bias, false, ct)};
}

struct Forward {
  Port x, w, b, y;
  Bound conv;
};
struct BackwardData {
  Port dy, w, dx;
  Bound conv;
};
struct BackwardWeights {
  Port x, dy, dw, db;
  Bound conv;
};

thread_local Cache<Forward> forwards;
thread_local Cache<BackwardData> backwardDatas;
thread_local Cache<BackwardWeights> backwardWeights;
const ClearOnSetThreads clearer([] {
  forwards.clear();
  backwardDatas.clear();
  backwardWeights.clear();
});

Forward& forwardFor(const ConvGeom& g, bool bias, bool relu) {
  auto& slot = slotFor(forwards, keyOf(g, bias, relu));
  if (slot) return *slot;
  Shapes s = shapesOf(g);
  auto pd = pickLayout([&](tag act) { return forwardPd(s, act, bias, relu); });
  auto e = std::make_unique<Forward>();
  e->x.init(f32md(s.src, tag::nhwc), pd.src_desc(), true);
  e->w.init(f32md(s.wei, tag::hwio), pd.weights_desc(), true);
  if (bias) e->b.init(f32md(s.bias, tag::x), pd.bias_desc(), true);
  e->y.init(f32md(s.dst, tag::nhwc), pd.dst_desc(), false);
  e->conv = Bound(dnnl::convolution_forward(pd), pd.scratchpad_desc());
  e->conv.arg(DNNL_ARG_SRC, e->x.inner());
  e->conv.arg(DNNL_ARG_WEIGHTS, e->w.inner());
  if (bias) e->conv.arg(DNNL_ARG_BIAS, e->b.inner());
  e->conv.arg(DNNL_ARG_DST, e->y.inner());
  slot = std::move(e);
  return *slot;
}

BackwardData& backwardDataFor(const ConvGeom& g) {
  auto& slot = slotFor(backwardDatas, keyOf(g, 0, 0));
  if (slot) return *slot;
  Shapes s = shapesOf(g);
  auto pd = pickLayout([&](tag act) { return backwardDataPd(s, act); });
  auto e = std::make_unique<BackwardData>();
  e->dy.init(f32md(s.dst, tag::nhwc), pd.diff_dst_desc(), true);
  e->w.init(f32md(s.wei, tag::hwio), pd.weights_desc(), true);
  e->dx.init(f32md(s.src, tag::nhwc), pd.diff_src_desc(), false);
  e->conv = Bound(dnnl::convolution_backward_data(pd), pd.scratchpad_desc());
  e->conv.arg(DNNL_ARG_DIFF_DST, e->dy.inner());
  e->conv.arg(DNNL_ARG_WEIGHTS, e->w.inner());
  e->conv.arg(DNNL_ARG_DIFF_SRC, e->dx.inner());
  slot = std::move(e);
  return *slot;
}

BackwardWeights& backwardWeightsFor(const ConvGeom& g, bool bias) {
  auto& slot = slotFor(backwardWeights, keyOf(g, bias, 0));
  if (slot) return *slot;
  Shapes s = shapesOf(g);
  auto pd = pickLayout([&](tag act) { return backwardWeightsPd(g, s, act, bias); });
  auto e = std::make_unique<BackwardWeights>();
  e->x.init(f32md(s.src, tag::nhwc), pd.src_desc(), true);
  e->dy.init(f32md(s.dst, tag::nhwc), pd.diff_dst_desc(), true);
  e->dw.init(f32md(s.wei, tag::hwio), pd.diff_weights_desc(), false);
  if (bias) e->db.init(f32md(s.bias, tag::x), pd.diff_bias_desc(), false);
  e->conv = Bound(dnnl::convolution_backward_weights(pd), pd.scratchpad_desc());
  e->conv.arg(DNNL_ARG_SRC, e->x.inner());
  e->conv.arg(DNNL_ARG_DIFF_DST, e->dy.inner());
  e->conv.arg(DNNL_ARG_DIFF_WEIGHTS, e->dw.inner());
  if (bias) e->conv.arg(DNNL_ARG_DIFF_BIAS, e->db.inner());
  slot = std::move(e);
  return *slot;
}

}  // namespace

void conv2dForward(const ConvGeom& g, const float* x, const float* w, const float* b, float* y, bool relu) {
  Forward& e = forwardFor(g, b != nullptr, relu);
  e.x.set(x);
  e.w.set(w);
  if (b) e.b.set(b);
  e.y.set(y);
  e.x.before();
  e.w.before();
  if (b) e.b.before();
  e.conv.run();
  e.y.after();
  waitStream();
}

void conv2dBackwardData(const ConvGeom& g, const float* dy, const float* w, float* dx) {
  BackwardData& e = backwardDataFor(g);
  e.dy.set(dy);
  e.w.set(w);
  e.dx.set(dx);
  e.dy.before();
  e.w.before();
  e.conv.run();
  e.dx.after();
  waitStream();
}

void conv2dBackwardWeights(const ConvGeom& g, const float* x, const float* dy, float* dw, float* db) {
  if (g.c == 1) return conv2dBackwardWeightsOneChannel(g, x, dy, dw, db);  // conv1ch.cc
  BackwardWeights& e = backwardWeightsFor(g, db != nullptr);
  e.x.set(x);
  e.dy.set(dy);
  e.dw.set(dw);
  if (db) e.db.set(db);
  e.x.before();
  e.dy.before();
  e.conv.run();
  e.dw.after();
  if (db) e.db.after();
  waitStream();
}

}  // namespace digits
