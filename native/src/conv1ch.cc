// Weight gradient of a single-channel convolution (the first layer, on the image) as a direct loop.
// oneDNN's kernels reach a few GFLOP/s here: the reduction runs over n·oh·ow while there are only
// kh·kw·f outputs. Here one kernel row's kw·f accumulators stay in vector registers while an output
// row streams past (per pixel: f/VL loads of dy and kw·f/VL FMAs, no accumulator traffic), each
// thread sums into its own copy, and the copies are added in thread order, so a given thread count
// always gives the same bits. No other oneDNN-free conv lives here: this is the one shape where a
// plain loop wins.
#include <omp.h>

#include <algorithm>
#include <cstring>
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
};
// Filter counts that are a multiple of 8 but not of the full vector width (24, 40) take 8-wide
// vectors: an odd count of those still beats the plain loop.
template <int F>
constexpr int lanesFor() { return F % VL == 0 ? VL : 8; }

std::vector<float> partials;

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

}  // namespace

void convBackwardWeightsOneChannel(const ConvGeom& g, const float* x, const float* dy, float* dw, float* db) {
  const int64_t K = g.kh * g.kw, F = g.f, per = K * F + F, rows = g.n * g.oh;
  // the padded input row: index ox·sw + kx covers [0, (ow-1)·sw + kw)
  const int64_t padW = std::max<int64_t>((g.ow - 1) * g.sw + g.kw, g.padLeft + g.w);
  const int threads = rows * g.ow * K * F > (1 << 16) ? omp_get_max_threads() : 1;
  const size_t slot = static_cast<size_t>(per + (g.kh + 1) * padW + VL);
  if (partials.size() < threads * slot) partials.resize(threads * slot);
  float* part = partials.data();
  const auto [fast, rowsAtOnce] = pick(g.kh, g.kw, F);
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    float* __restrict acc = part + t * slot;
    float* __restrict accB = acc + K * F;
    float* __restrict xs = accB + F;  // kh padded rows, then one row of zeros
    std::memset(acc, 0, sizeof(float) * static_cast<size_t>(per));
    std::memset(xs, 0, sizeof(float) * static_cast<size_t>((g.kh + 1) * padW));
    const float* zeros = xs + g.kh * padW;
    std::vector<const float*> rowsOf(static_cast<size_t>(g.kh));
    for (int64_t r = rows * t / nt; r < rows * (t + 1) / nt; r++) {
      const int64_t b = r / g.oh, oy = r % g.oh;
      const float* dyRow = dy + r * g.ow * F;
      for (int64_t ox = 0; ox < g.ow; ox++)
        for (int64_t f = 0; f < F; f++) accB[f] += dyRow[ox * F + f];
      for (int64_t ky = 0; ky < g.kh; ky++) {
        const int64_t iy = oy * g.sh + ky - g.padTop;
        // a padding row adds nothing; columns outside the image stay zero from the memset
        if (iy < 0 || iy >= g.h) { rowsOf[ky] = zeros; continue; }
        std::memcpy(xs + ky * padW + g.padLeft, x + (b * g.h + iy) * g.w, sizeof(float) * static_cast<size_t>(g.w));
        rowsOf[ky] = xs + ky * padW;
      }
      for (int64_t ky = 0; ky < g.kh; ky += rowsAtOnce) {
        float* a = acc + ky * g.kw * F;
        if (fast) fast(rowsOf.data() + ky, g.sw, dyRow, g.ow, a);
        else if (rowsOf[ky] != zeros) plainPass(rowsOf[ky], g.sw, dyRow, g.ow, g.kw, F, a);
      }
    }
  }
  for (int64_t i = 0; i < per; i++) {
    float v = 0;
    for (int t = 0; t < threads; t++) v += part[t * slot + i];
    if (i < K * F) dw[i] = v;
    else if (db) db[i - K * F] = v;
  }
}

}  // namespace digits
