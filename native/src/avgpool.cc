// Average pooling on oneDNN's pooling_avg_exclude_padding, which is TF's rule (padded cells are not
// counted). Unlike max pooling there is no workspace to keep backend-neutral, so oneDNN's JIT kernels
// run on the NHWC arrays directly. TF's 'same' padding is asymmetric: the geometry gives the top/left
// pad and the bottom/right one is whatever makes oh × ow windows fit.
#include <algorithm>

#include "common.h"
#include "kernels.h"

namespace digits {
namespace {

using dnnl::algorithm;

struct Pool {
  Port in, out;
  Bound op;
};

thread_local Cache<Pool> cache;
const ClearOnSetThreads clearer([] { cache.clear(); });

struct Shape {
  memory::desc src, dst;
  memory::dims strides, kernel, padL, padR;
};

Shape shapeOf(const PoolGeom& g) {
  // A negative bottom/right pad is a 'valid' pooling that leaves trailing rows unread: oneDNN takes 0
  // there, since its output size rounds down.
  const int64_t padB = std::max<int64_t>((g.oh - 1) * g.sh + g.ph - g.h - g.padTop, 0);
  const int64_t padR = std::max<int64_t>((g.ow - 1) * g.sw + g.pw - g.w - g.padLeft, 0);
  return {f32md({g.n, g.c, g.h, g.w}, tag::nhwc), f32md({g.n, g.c, g.oh, g.ow}, tag::nhwc),
          {g.sh, g.sw}, {g.ph, g.pw}, {g.padTop, g.padLeft}, {padB, padR}};
}

Key keyOf(int64_t dir, const PoolGeom& g) {
  return Key{{dir, g.n, g.h, g.w, g.c, g.oh, g.ow, g.ph, g.pw, g.sh, g.sw, g.padTop, g.padLeft}};
}

dnnl::pooling_forward::primitive_desc forwardPd(const Shape& s) {
  dnnl::pooling_forward::desc d(dnnl::prop_kind::forward_training, algorithm::pooling_avg_exclude_padding, s.src, s.dst,
                                s.strides, s.kernel, s.padL, s.padR);
  return {d, baseAttr(), cpuEngine()};
}

Pool& forwardFor(const PoolGeom& g) {
  auto& slot = slotFor(cache, keyOf(0, g));
  if (slot) return *slot;
  const Shape s = shapeOf(g);
  auto pd = forwardPd(s);
  auto p = std::make_unique<Pool>();
  p->in.init(s.src, pd.src_desc(), true);
  p->out.init(s.dst, pd.dst_desc(), false);
  p->op = Bound(dnnl::pooling_forward(pd), pd.scratchpad_desc());
  p->op.arg(DNNL_ARG_SRC, p->in.inner());
  p->op.arg(DNNL_ARG_DST, p->out.inner());
  slot = std::move(p);
  return *slot;
}

Pool& backwardFor(const PoolGeom& g) {
  auto& slot = slotFor(cache, keyOf(1, g));
  if (slot) return *slot;
  const Shape s = shapeOf(g);
  dnnl::pooling_backward::desc d(algorithm::pooling_avg_exclude_padding, s.src, s.dst, s.strides, s.kernel, s.padL,
                                 s.padR);
  dnnl::pooling_backward::primitive_desc pd(d, baseAttr(), cpuEngine(), forwardPd(s));
  auto p = std::make_unique<Pool>();
  p->in.init(s.dst, pd.diff_dst_desc(), true);
  p->out.init(s.src, pd.diff_src_desc(), false);
  p->op = Bound(dnnl::pooling_backward(pd), pd.scratchpad_desc());
  p->op.arg(DNNL_ARG_DIFF_DST, p->in.inner());
  p->op.arg(DNNL_ARG_DIFF_SRC, p->out.inner());
  slot = std::move(p);
  return *slot;
}

void run(Pool& p, const void* from, void* to) {
  p.in.set(from);
  p.out.set(to);
  p.in.before();
  p.op.run();
  p.out.after();
  waitStream();
}

}  // namespace

void avgPool2dForward(const PoolGeom& g, const float* x, float* y) { run(forwardFor(g), x, y); }

// oneDNN's backward writes every diff_src element (cells no window covers get 0), so dx is overwritten.
void avgPool2dBackward(const PoolGeom& g, const float* dy, float* dx) { run(backwardFor(g), dy, dx); }

}  // namespace digits
