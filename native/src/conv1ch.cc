// The single-channel convolution (the first layer, on the image) where a direct loop beats oneDNN:
// - its weight gradient: oneDNN's kernels reach a few GFLOP/s here, because the reduction runs over
//   n·oh·ow while there are only kh·kw·f outputs. Here one kernel row's kw·f accumulators stay in
//   vector registers while an output row streams past (per pixel: f/VL loads of dy and kw·f/VL FMAs,
//   no accumulator traffic), each thread sums into its own copy, and the copies are added in thread
//   order, so a given thread count always gives the same bits;
// - the conv + ReLU + 2x2 max-pool of every seed CNN's first layer as one kernel each way: the conv's
//   output, the largest activation of the model, is never written. Forward keeps the whole kernel in
//   registers and pools four conv outputs as they are made; backward rebuilds two conv rows of
//   gradient from the pooled one (winners only) in L1 and feeds them to the weight-gradient rows.
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "kernels.h"

namespace digits {
namespace {

#ifdef __AVX512F__
constexpr int VL = 16;
#else
constexpr int VL = 8;
#endif
// Vectors of L floats that may sit at any float boundary. The typedef lives in a struct because GCC
// drops the alignment attribute from a type passed as a template argument (std::conditional).
template <int L>
struct Vec {
  typedef float T __attribute__((vector_size(L * sizeof(float)), aligned(sizeof(float))));
  typedef int32_t I __attribute__((vector_size(L * sizeof(int32_t)), aligned(sizeof(int32_t))));
};
// Filter counts that are a multiple of 8 but not of the full vector width (24, 40) take 8-wide
// vectors: an odd count of those still beats the plain loop.
template <int F>
constexpr int lanesFor() { return F % VL == 0 ? VL : 8; }

thread_local std::vector<float> partials;

// acc[(ky·KW + kx)·F + f] += Σ_ox xs[ky][ox·sw + kx] · dy[ox·F + f] for KH kernel rows at once; the
// xs rows are zero-padded. KH > 1 only where all KH·KW·F accumulators fit in registers: more
// independent FMA chains per pixel than one kernel row of a 3x3 kernel gives.
template <int KH, int KW, int F>
void rowPass(const float* const* xs, int64_t sw, const float* __restrict dy, int64_t ow, float* __restrict acc) {
  constexpr int L = lanesFor<F>(), NV = F / L;
  using V = typename Vec<L>::T;
  V a[KH][KW][NV];
  for (int ky = 0; ky < KH; ky++)
    for (int kx = 0; kx < KW; kx++)
      for (int v = 0; v < NV; v++) a[ky][kx][v] = *reinterpret_cast<const V*>(acc + (ky * KW + kx) * F + v * L);
  for (int64_t ox = 0; ox < ow; ox++) {
    V d[NV];
    for (int v = 0; v < NV; v++) d[v] = *reinterpret_cast<const V*>(dy + ox * F + v * L);
    for (int ky = 0; ky < KH; ky++) {
      const float* x = xs[ky] + ox * sw;
      for (int kx = 0; kx < KW; kx++)
        for (int v = 0; v < NV; v++) a[ky][kx][v] += x[kx] * d[v];
    }
  }
  for (int ky = 0; ky < KH; ky++)
    for (int kx = 0; kx < KW; kx++)
      for (int v = 0; v < NV; v++) *reinterpret_cast<V*>(acc + (ky * KW + kx) * F + v * L) = a[ky][kx][v];
}

using RowPass = void (*)(const float* const*, int64_t, const float*, int64_t, float*);
using Pass = std::pair<RowPass, int64_t>;  // the pass, and how many kernel rows it takes at once
constexpr int kRegs = VL == 16 ? 24 : 12;  // accumulators, leaving registers for dy and x

// A square 2x2 or 3x3 kernel whose accumulators all fit in registers goes in one pass; otherwise one
// kernel row at a time.
template <int F>
Pass pickKw(int64_t kh, int64_t kw) {
  constexpr int vectors = F / lanesFor<F>();
  const bool whole = kh == kw && kh * kw * vectors <= kRegs;
  switch (kw) {
    case 2: return whole ? Pass{rowPass<2, 2, F>, 2} : Pass{rowPass<1, 2, F>, 1};
    case 3: return whole ? Pass{rowPass<3, 3, F>, 3} : Pass{rowPass<1, 3, F>, 1};
    case 4: return {rowPass<1, 4, F>, 1};
    case 5: return {rowPass<1, 5, F>, 1};
    default: return {nullptr, 1};
  }
}

// The register-blocked pass for this kernel and f; null when even one kernel row of accumulators
// would not fit in registers.
Pass pick(int64_t kh, int64_t kw, int64_t f) {
  const int64_t vectors = f % VL == 0 ? f / VL : f / 8;
  if (kw * vectors > kRegs) return {nullptr, 1};
  switch (f) {
    case 16: return pickKw<16>(kh, kw);
    case 24: return pickKw<24>(kh, kw);
    case 32: return pickKw<32>(kh, kw);
    case 64: return pickKw<64>(kh, kw);
    default: return {nullptr, 1};
  }
}

// Any shape: the accumulators live in memory (the zero pixels of MNIST, ~80%, are skipped).
void plainPass(const float* __restrict xs, int64_t sw, const float* __restrict dy, int64_t ow, int64_t kw, int64_t F,
               float* __restrict acc) {
  for (int64_t ox = 0; ox < ow; ox++) {
    const float* __restrict d = dy + ox * F;
    for (int64_t kx = 0; kx < kw; kx++) {
      const float xv = xs[ox * sw + kx];
      if (xv == 0) continue;
      float* __restrict a = acc + kx * F;
      for (int64_t f = 0; f < F; f++) a[f] += xv * d[f];
    }
  }
}

// One thread's share of a weight gradient: kernel-sized accumulators plus the padded input rows that
// the row passes read. add() takes one row of dy (ow·f values) for output row oy of image b.
class RowAccumulator {
 public:
  RowAccumulator(const ConvGeom& g, float* slot, int64_t padW)
      : g_(g), padW_(padW), acc_(slot), accB_(slot + g.kh * g.kw * g.f), xs_(accB_ + g.f),
        zeros_(xs_ + g.kh * padW), rowsOf_(static_cast<size_t>(g.kh)) {
    std::tie(fast_, rowsAtOnce_) = pick(g.kh, g.kw, g.f);
    std::memset(acc_, 0, sizeof(float) * static_cast<size_t>(g.kh * g.kw * g.f + g.f));
    std::memset(xs_, 0, sizeof(float) * static_cast<size_t>((g.kh + 1) * padW));
  }
  void add(const float* x, int64_t b, int64_t oy, const float* __restrict dyRow) {
    const int64_t F = g_.f;
    for (int64_t ox = 0; ox < g_.ow; ox++)
      for (int64_t f = 0; f < F; f++) accB_[f] += dyRow[ox * F + f];
    for (int64_t ky = 0; ky < g_.kh; ky++) {
      const int64_t iy = oy * g_.sh + ky - g_.padTop;
      // a padding row adds nothing; columns outside the image stay zero from the memset
      if (iy < 0 || iy >= g_.h) { rowsOf_[ky] = zeros_; continue; }
      std::memcpy(xs_ + ky * padW_ + g_.padLeft, x + (b * g_.h + iy) * g_.w, sizeof(float) * static_cast<size_t>(g_.w));
      rowsOf_[ky] = xs_ + ky * padW_;
    }
    for (int64_t ky = 0; ky < g_.kh; ky += rowsAtOnce_) {
      float* a = acc_ + ky * g_.kw * F;
      if (fast_) fast_(rowsOf_.data() + ky, g_.sw, dyRow, g_.ow, a);
      else if (rowsOf_[ky] != zeros_) plainPass(rowsOf_[ky], g_.sw, dyRow, g_.ow, g_.kw, F, a);
    }
  }

 private:
  const ConvGeom& g_;
  const int64_t padW_;
  float* const acc_;
  float* const accB_;
  float* const xs_;  // kh padded rows, then one row of zeros
  const float* const zeros_;
  std::vector<const float*> rowsOf_;
  RowPass fast_ = nullptr;
  int64_t rowsAtOnce_ = 1;
};

// The padded input row: index ox·sw + kx covers [0, (ow-1)·sw + kw).
int64_t paddedWidth(const ConvGeom& g) { return std::max<int64_t>((g.ow - 1) * g.sw + g.kw, g.padLeft + g.w); }

// dw, db = the sum of every thread's `per`-float accumulator (kernel gradient, then bias gradient),
// which `body(slot, t, nt)` fills from the start of its `slotFloats`-float slot; added in thread order.
template <class Body>
void reduceThreads(const ConvGeom& g, int threads, size_t slotFloats, float* dw, float* db, Body body) {
  const int64_t K = g.kh * g.kw, F = g.f, per = K * F + F;
  if (partials.size() < threads * slotFloats) partials.resize(threads * slotFloats);
  float* part = partials.data();
#pragma omp parallel num_threads(threads)
  body(part + omp_get_thread_num() * slotFloats, omp_get_thread_num(), omp_get_num_threads());
  for (int64_t i = 0; i < per; i++) {
    float v = 0;
    for (int t = 0; t < threads; t++) v += part[t * slotFloats + i];
    if (i < K * F) dw[i] = v;
    else if (db) db[i - K * F] = v;
  }
}

int gradientThreads(const ConvGeom& g) { return g.n * g.oh * g.ow * g.kh * g.kw * g.f > (1 << 16) ? omp_get_max_threads() : 1; }

// dw, db from `rows` work items, each adding rows of dy through a RowAccumulator; `extra` floats of
// per-thread scratch follow the accumulator's.
template <class Body>
void weightGradient(const ConvGeom& g, int64_t rows, int64_t extra, float* dw, float* db, Body body) {
  const int64_t per = g.kh * g.kw * g.f + g.f, padW = paddedWidth(g);
  const size_t slot = static_cast<size_t>(per + (g.kh + 1) * padW + extra + VL);
  reduceThreads(g, gradientThreads(g), slot, dw, db, [&](float* mine, int t, int nt) {
    RowAccumulator acc(g, mine, padW);
    float* scratch = mine + per + (g.kh + 1) * padW;
    for (int64_t r = rows * t / nt; r < rows * (t + 1) / nt; r++) body(acc, r, scratch);
  });
}

// Copies the kh + 1 input rows behind conv rows 2·py and 2·py + 1 of image b into xs (padW floats
// each, zero where the padding is); columns outside the image keep the zeros they were given.
void loadPooledRows(const ConvGeom& g, const float* x, int64_t b, int64_t py, float* xs, int64_t padW) {
  for (int64_t k = 0; k <= g.kh; k++) {
    const int64_t iy = 2 * py + k - g.padTop;
    float* row = xs + k * padW;
    if (iy < 0 || iy >= g.h) std::memset(row, 0, sizeof(float) * static_cast<size_t>(padW));
    else std::memcpy(row + g.padLeft, x + (b * g.h + iy) * g.w, sizeof(float) * static_cast<size_t>(g.w));
  }
}

// Forward of conv (stride 1) → ReLU → 2x2/2 max-pool for one pooled row: xs holds the kh + 1 input
// rows that the two conv rows read, zero-padded to padW; writes pow·F pooled values and the flat conv
// output index of each winner. The KH·KW·NV weight vectors stay in registers across the row (25 for a
// 5x5 kernel of 16 filters); a pooled pixel runs four accumulator chains, one per window cell, and
// two pixels are made at a time.
template <int KH, int KW, int L, int NV>
void poolRowForward(const float* xs, int64_t padW, const float* __restrict w, const float* b, int64_t pow,
                    int64_t ow, int64_t base, float* __restrict y, int32_t* __restrict ws) {
  using V = typename Vec<L>::T;
  using VI = typename Vec<L>::I;
  constexpr int F = L * NV;
  V wr[KH][KW][NV], bias[NV];
  for (int ky = 0; ky < KH; ky++)
    for (int kx = 0; kx < KW; kx++)
      for (int v = 0; v < NV; v++) wr[ky][kx][v] = *reinterpret_cast<const V*>(w + (ky * KW + kx) * F + v * L);
  VI lane;
  for (int l = 0; l < L; l++) lane[l] = l;
  for (int v = 0; v < NV; v++) {
    if (b) bias[v] = *reinterpret_cast<const V*>(b + v * L);
    else bias[v] = V{} ;
  }
  // ReLU, then the first maximum in window order wins, as maxPool2dForward decides; winner d sits at
  // conv row 2·py + d/2, column 2·px + d%2
  auto store = [&](const V* acc, int64_t px, int v) {
    V best = acc[0] > 0 ? acc[0] : V{};
    VI arg = VI{};
    for (int d = 1; d < 4; d++) {
      const V a = acc[d] > 0 ? acc[d] : V{};
      const VI gt = a > best;
      best = gt ? a : best;
      arg = gt ? VI{} + d : arg;
    }
    const VI idx = static_cast<int32_t>(base + 2 * px * F + v * L) + lane + (arg >> 1) * static_cast<int32_t>(ow * F) + (arg & 1) * F;
    *reinterpret_cast<V*>(y + px * F + v * L) = best;
    *reinterpret_cast<VI*>(ws + px * F + v * L) = idx;
  };
  // P pooled pixels from px, 4·P independent FMA chains: two pixels' eight cover the FMA latency, one's
  // four did not; the tail of an odd row takes one
  auto pixels = [&](int64_t px, auto pixelCount) {
    constexpr int P = decltype(pixelCount)::value;
    for (int v = 0; v < NV; v++) {
      V acc[4 * P];
      for (V& a : acc) a = bias[v];
      for (int ky = 0; ky < KH; ky++) {
        const float* r0 = xs + ky * padW + 2 * px;
        const float* r1 = r0 + padW;
        for (int kx = 0; kx < KW; kx++) {
          const V wv = wr[ky][kx][v];
          for (int p = 0; p < P; p++) {
            acc[4 * p] += r0[kx + 2 * p] * wv;
            acc[4 * p + 1] += r0[kx + 2 * p + 1] * wv;
            acc[4 * p + 2] += r1[kx + 2 * p] * wv;
            acc[4 * p + 3] += r1[kx + 2 * p + 1] * wv;
          }
        }
      }
      for (int p = 0; p < P; p++) store(acc + 4 * p, px + p, v);
    }
  };
  int64_t px = 0;
  for (; px + 2 <= pow; px += 2) pixels(px, std::integral_constant<int, 2>{});
  for (; px < pow; px++) pixels(px, std::integral_constant<int, 1>{});
}

// Any other kernel size or filter count: the same arithmetic, one filter at a time.
void poolRowPlain(const float* xs, int64_t padW, const float* w, const float* b, int64_t pow, int64_t ow, int64_t base,
                  int64_t kh, int64_t kw, int64_t F, float* y, int32_t* ws) {
  for (int64_t px = 0; px < pow; px++)
    for (int64_t f = 0; f < F; f++) {
      float best = 0;
      int arg = 0;
      for (int d = 0; d < 4; d++) {
        float a = b ? b[f] : 0.f;
        for (int64_t ky = 0; ky < kh; ky++)
          for (int64_t kx = 0; kx < kw; kx++) a += xs[(ky + d / 2) * padW + 2 * px + d % 2 + kx] * w[(ky * kw + kx) * F + f];
        a = a > 0 ? a : 0.f;
        if (d == 0 || a > best) best = a, arg = d;
      }
      y[px * F + f] = best;
      ws[px * F + f] = static_cast<int32_t>(base + (2 * px + arg % 2) * F + f + (arg / 2) * ow * F);
    }
}

// Backward of poolRowForward for one pooled row: each lane's gradient (if its winner was > 0) goes to
// the window cell its workspace index names, and the whole kernel's accumulators stay in registers
// while the row streams past — four FMAs per weight and pooled pixel, as in the forward. A winner
// outside this pooled row's window cells is not this kernel's and is dropped. acc: KH·KW·F + F.
template <int KH, int KW, int L, int NV>
void poolRowBackward(const float* xs, int64_t padW, const float* __restrict dy, const int32_t* __restrict ws,
                     const float* __restrict y, int64_t pow, int64_t ow, int64_t base, float* __restrict acc) {
  using V = typename Vec<L>::T;
  using VI = typename Vec<L>::I;
  constexpr int F = L * NV;
  const int32_t down = static_cast<int32_t>(ow * F);
  VI lane;
  for (int l = 0; l < L; l++) lane[l] = l;
  for (int v = 0; v < NV; v++) {
    V a[KH][KW], ab = *reinterpret_cast<const V*>(acc + KH * KW * F + v * L);
    for (int ky = 0; ky < KH; ky++)
      for (int kx = 0; kx < KW; kx++) a[ky][kx] = *reinterpret_cast<const V*>(acc + (ky * KW + kx) * F + v * L);
    for (int64_t px = 0; px < pow; px++) {
      const int64_t i = px * F + v * L;
      const VI rel = *reinterpret_cast<const VI*>(ws + i) - static_cast<int32_t>(base + 2 * px * F + v * L) - lane;
      const V yv = *reinterpret_cast<const V*>(y + i), dv = *reinterpret_cast<const V*>(dy + i);
      const V gy = yv > 0 ? dv : V{};
      const V g0 = rel == 0 ? gy : V{}, g1 = rel == F ? gy : V{};
      const V g2 = rel == down ? gy : V{}, g3 = rel == down + F ? gy : V{};
      ab += (g0 + g1) + (g2 + g3);
      for (int ky = 0; ky < KH; ky++) {
        const float* r0 = xs + ky * padW + 2 * px;
        const float* r1 = r0 + padW;
        for (int kx = 0; kx < KW; kx++) a[ky][kx] += (r0[kx] * g0 + r0[kx + 1] * g1) + (r1[kx] * g2 + r1[kx + 1] * g3);
      }
    }
    for (int ky = 0; ky < KH; ky++)
      for (int kx = 0; kx < KW; kx++) *reinterpret_cast<V*>(acc + (ky * KW + kx) * F + v * L) = a[ky][kx];
    *reinterpret_cast<V*>(acc + KH * KW * F + v * L) = ab;
  }
}

// The register-blocked pair for a square 3x3, 4x4 or 5x5 kernel and 8, 16, 24, 32 or 64 filters;
// both null for any other shape, which takes the plain loops.
struct PoolRowPair {
  void (*forward)(const float*, int64_t, const float*, const float*, int64_t, int64_t, int64_t, float*, int32_t*) = nullptr;
  void (*backward)(const float*, int64_t, const float*, const int32_t*, const float*, int64_t, int64_t, int64_t,
                   float*) = nullptr;
};

template <int L, int NV>
PoolRowPair pairFor(int64_t kh, int64_t kw) {
  if (kh != kw) return {};
  switch (kh) {
    case 3: return {poolRowForward<3, 3, L, NV>, poolRowBackward<3, 3, L, NV>};
    case 4: return {poolRowForward<4, 4, L, NV>, poolRowBackward<4, 4, L, NV>};
    case 5: return {poolRowForward<5, 5, L, NV>, poolRowBackward<5, 5, L, NV>};
    default: return {};
  }
}

PoolRowPair pickPoolRows(int64_t kh, int64_t kw, int64_t f) {
  switch (f) {
#ifdef __AVX512F__
    case 16: return pairFor<16, 1>(kh, kw);
    case 32: return pairFor<16, 2>(kh, kw);
    case 64: return pairFor<16, 4>(kh, kw);
#else
    case 16: return pairFor<8, 2>(kh, kw);
    case 32: return pairFor<8, 4>(kh, kw);
#endif
    case 8: return pairFor<8, 1>(kh, kw);
    case 24: return pairFor<8, 3>(kh, kw);
    default: return {};
  }
}

}  // namespace

void conv2dBackwardWeightsOneChannel(const ConvGeom& g, const float* x, const float* dy, float* dw, float* db) {
  weightGradient(g, g.n * g.oh, 0, dw, db, [&](RowAccumulator& acc, int64_t r, float*) {
    acc.add(x, r / g.oh, r % g.oh, dy + r * g.ow * g.f);
  });
}

void conv2dReluMaxPoolForward(const ConvGeom& g, const PoolGeom& p, const float* x, const float* w,
                                   const float* b, float* y, int32_t* ws) {
  const int64_t F = g.f, padW = paddedWidth(g), rows = g.n * p.oh, rowFloats = (g.kh + 1) * padW;
  const auto fast = pickPoolRows(g.kh, g.kw, F).forward;
  const int threads = rows * p.ow * F * g.kh * g.kw > (1 << 15) ? omp_get_max_threads() : 1;
  if (partials.size() < static_cast<size_t>(threads * rowFloats)) partials.resize(static_cast<size_t>(threads * rowFloats));
  float* bufs = partials.data();
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    float* xs = bufs + t * rowFloats;
    std::memset(xs, 0, sizeof(float) * static_cast<size_t>(rowFloats));
    for (int64_t r = rows * t / nt; r < rows * (t + 1) / nt; r++) {
      const int64_t bi = r / p.oh, py = r % p.oh;
      loadPooledRows(g, x, bi, py, xs, padW);
      const int64_t base = (bi * g.oh + 2 * py) * g.ow * F;
      float* yr = y + r * p.ow * F;
      int32_t* wr = ws + r * p.ow * F;
      if (fast) fast(xs, padW, w, b, p.ow, g.ow, base, yr, wr);
      else poolRowPlain(xs, padW, w, b, p.ow, g.ow, base, g.kh, g.kw, F, yr, wr);
    }
  }
}

void conv2dReluMaxPoolBackwardWeights(const ConvGeom& g, const PoolGeom& p, const float* x, const float* dy,
                                           const int32_t* ws, const float* y, float* dw, float* db) {
  const int64_t F = g.f, span = 2 * g.ow * F, rows = g.n * p.oh;
  if (const auto fast = pickPoolRows(g.kh, g.kw, F).backward) {
    const int64_t per = g.kh * g.kw * F + F, padW = paddedWidth(g);
    reduceThreads(g, gradientThreads(g), static_cast<size_t>(per + (g.kh + 1) * padW + VL), dw, db, [&](float* acc, int t, int nt) {
      float* xs = acc + per;
      std::memset(acc, 0, sizeof(float) * static_cast<size_t>(per + (g.kh + 1) * padW));
      for (int64_t r = rows * t / nt; r < rows * (t + 1) / nt; r++) {
        const int64_t bi = r / p.oh, py = r % p.oh;
        loadPooledRows(g, x, bi, py, xs, padW);
        fast(xs, padW, dy + r * p.ow * F, ws + r * p.ow * F, y + r * p.ow * F, p.ow, g.ow, (bi * g.oh + 2 * py) * g.ow * F, acc);
      }
    });
    return;
  }
  // any other shape: rebuild the two conv rows of gradient and take the plain weight-gradient rows
  weightGradient(g, rows, span, dw, db, [&](RowAccumulator& acc, int64_t r, float* dense) {
    const int64_t bi = r / p.oh, py = r % p.oh, base = (bi * g.oh + 2 * py) * g.ow * F;
    // conv rows 2·py and 2·py + 1 of dz: each pooled gradient goes to its winner when the winner
    // was > 0 (the ReLU's backward); a winner outside its own window is not this kernel's: dropped
    std::memset(dense, 0, sizeof(float) * static_cast<size_t>(span));
    for (int64_t px = 0; px < p.ow; px++)
      for (int64_t f = 0; f < F; f++) {
        const int64_t i = (r * p.ow + px) * F + f, at = static_cast<int64_t>(ws[i]) - base, rel = at - 2 * px * F - f;
        if (y[i] > 0 && (rel == 0 || rel == F || rel == g.ow * F || rel == g.ow * F + F)) dense[at] += dy[i];
      }
    acc.add(x, bi, 2 * py, dense);
    acc.add(x, bi, 2 * py + 1, dense + g.ow * F);
  });
}

}  // namespace digits
