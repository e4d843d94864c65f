// Batch norm as plain loops, two passes over the activation each way (statistics, then the
// element-wise map). The statistics are summed in float within 64-row blocks and in double across
// them (a large batch of a few channels sums ~10^5 values per channel), and the moving-statistics
// update with the unbiased variance is ours to do anyway. Threads take contiguous row ranges and
// keep per-thread channel sums, reduced afterwards in thread order. A few channels (8, 16, 32) make
// rows too short for the vector loops, so m consecutive rows are read as one row of m·c "virtual
// channels" (channel j % c) and the virtual sums folded afterwards; rows that do not fill a last
// group of m are summed on their own.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels.h"

namespace digits {
namespace {

// Grow-only scratch, so steady-state calls do not allocate.
template <class T>
T* scratch(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}
thread_local std::vector<double> partialBuf, statBuf, foldBuf;
thread_local std::vector<float> coefBuf, blockSums, wideBuf;

int threadsFor(int64_t elems) { return elems > 32768 ? omp_get_max_threads() : 1; }

constexpr int64_t kBlock = 64;  // rows summed in float before the block's sums are added in double

// Per-channel sums of f(row, k) and g(row, k) over all rows, in one pass: each thread sums a block of
// rows in float (vectorised over the contiguous channels), adds the block into double, and the
// threads' doubles are added in thread order; outF[k], outG[k] for k < c.
template <class F, class G>
void channelSums2(int64_t rows, int64_t c, int threads, double* outF, double* outG, F f, G g) {
  double* part = scratch(partialBuf, static_cast<size_t>(threads * 2 * c));
  float* blockBuf = scratch(blockSums, static_cast<size_t>(threads * 2 * c));
  std::memset(part, 0, sizeof(double) * static_cast<size_t>(threads * 2 * c));
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    double* __restrict accF = part + t * 2 * c;
    double* __restrict accG = accF + c;
    float* __restrict bF = blockBuf + t * 2 * c;
    float* __restrict bG = bF + c;
    const int64_t r0 = rows * t / nt, r1 = rows * (t + 1) / nt;
    for (int64_t b0 = r0; b0 < r1; b0 += kBlock) {
      std::memset(bF, 0, sizeof(float) * static_cast<size_t>(2 * c));
      for (int64_t r = b0; r < std::min(r1, b0 + kBlock); r++) {
        // without the pragma GCC keeps the backward's sums scalar (it cannot rule out that f and g
        // read bF/bG), ~4x slower than the forward's
#pragma omp simd
        for (int64_t k = 0; k < c; k++) {
          bF[k] += f(r, k);
          bG[k] += g(r, k);
        }
      }
      for (int64_t k = 0; k < c; k++) accF[k] += bF[k], accG[k] += bG[k];
    }
  }
  for (int64_t k = 0; k < c; k++) {
    double sf = 0, sg = 0;
    for (int t = 0; t < threads; t++) sf += part[t * 2 * c + k], sg += part[t * 2 * c + c + k];
    outF[k] = sf;
    outG[k] = sg;
  }
}

// rows·c values seen as `vrows` rows of w = m·c virtual channels (virtual j is channel j % c), plus
// `tail` leftover rows of c. m makes w ≥ 128 floats, so a row is a few full-width vector steps.
struct Folded {
  int64_t m, w, vrows, tail;
  Folded(int64_t rows, int64_t c) : m(std::max<int64_t>(1, 128 / c)), w(m * c), vrows(rows / m), tail(rows % m) {}
  // per-channel values repeated across the w virtual channels, in scratch
  const float* expand(const float* perChannel, int64_t c, float* out) const {
    for (int64_t j = 0; j < w; j++) out[j] = perChannel[j % c];
    return out;
  }
};

// channelSums2 over the folded view; the tail rows' sums come in via fTail/gTail (row index r of
// the tail counts from the first tail row) and every virtual channel folds into channel j % c.
template <class F, class G, class FT, class GT>
void foldedSums2(const Folded& v, int64_t c, int threads, double* outF, double* outG, F f, G g, FT fTail, GT gTail) {
  std::vector<double>& wide = foldBuf;
  if (wide.size() < static_cast<size_t>(2 * v.w)) wide.resize(static_cast<size_t>(2 * v.w));
  channelSums2(v.vrows, v.w, threads, wide.data(), wide.data() + v.w, f, g);
  for (int64_t k = 0; k < c; k++) outF[k] = outG[k] = 0;
  for (int64_t j = 0; j < v.w; j++) outF[j % c] += wide[j], outG[j % c] += wide[v.w + j];
  for (int64_t r = 0; r < v.tail; r++)
    for (int64_t k = 0; k < c; k++) outF[k] += fTail(r, k), outG[k] += gTail(r, k);
}

// y = (x − center)·scale + shift per channel, over the folded view and then the tail rows.
void affine(const Folded& v, int64_t c, int threads, const float* x, float* y, const float* center, const float* scale,
            const float* shift) {
  std::vector<float>& wideCo = wideBuf;
  if (wideCo.size() < static_cast<size_t>(3 * v.w)) wideCo.resize(static_cast<size_t>(3 * v.w));
  auto map = [&](int64_t n, int64_t width, const float* x0, float* y0, const float* __restrict mu,
                 const float* __restrict s, const float* __restrict b) {
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t r = 0; r < n; r++) {
      const float* __restrict xx = x0 + r * width;
      float* __restrict o = y0 + r * width;
#pragma omp simd
      for (int64_t k = 0; k < width; k++) o[k] = (xx[k] - mu[k]) * s[k] + b[k];
    }
  };
  map(v.vrows, v.w, x, y, v.expand(center, c, wideCo.data()), v.expand(scale, c, wideCo.data() + v.w),
      v.expand(shift, c, wideCo.data() + 2 * v.w));
  map(v.tail, c, x + v.vrows * v.w, y + v.vrows * v.w, center, scale, shift);
}

}  // namespace

void batchNormForwardTraining(int64_t rows, int64_t c, const float* x, const float* gamma, const float* beta,
                       float* movingMean, float* movingVar, double momentum, double eps, float* y,
                       float* saveMean, float* saveInvStd) {
  const int threads = threadsFor(rows * c);
  const Folded v(rows, c);
  double* mean = scratch(statBuf, static_cast<size_t>(3 * c));
  double* sq = mean + c;
  double* shifted = mean + 2 * c;
  // One pass for the sum and the sum of squares, both of x − x[0] (row 0 as a per-channel shift):
  // E[d²]−E[d]² then only loses digits when a channel's mean is many std away from its first value,
  // where the plain E[x²]−E[x]² loses them whenever |mean| ≫ std.
  float* coef = scratch(coefBuf, static_cast<size_t>(2 * c + v.w));
  float* shift0 = coef;
  for (int64_t k = 0; k < c; k++) shift0[k] = x[k];
  const float* __restrict s0 = v.expand(shift0, c, coef + 2 * c);
  const int64_t w = v.w;
  const float* xt = x + v.vrows * w;
  foldedSums2(v, c, threads, shifted, sq,
              [=](int64_t r, int64_t j) { return x[r * w + j] - s0[j]; },
              [=](int64_t r, int64_t j) { const float d = x[r * w + j] - s0[j]; return d * d; },
              [=](int64_t r, int64_t k) { return static_cast<double>(xt[r * c + k] - shift0[k]); },
              [=](int64_t r, int64_t k) { const double d = xt[r * c + k] - shift0[k]; return d * d; });
  for (int64_t k = 0; k < c; k++) {
    const double md = shifted[k] / static_cast<double>(rows);
    mean[k] = shift0[k] + md;
    sq[k] = std::max(0.0, sq[k] - md * shifted[k]);  // Σ(x − mean)²
  }
  float* scale = coef;  // shift0 is no longer needed
  float* shift = coef + c;
  for (int64_t k = 0; k < c; k++) {
    const double var = sq[k] / static_cast<double>(rows);
    saveMean[k] = static_cast<float>(mean[k]);
    saveInvStd[k] = static_cast<float>(1 / std::sqrt(var + eps));
    const double unbiased = rows > 1 ? sq[k] / static_cast<double>(rows - 1) : var;
    movingMean[k] = static_cast<float>(movingMean[k] * momentum + mean[k] * (1 - momentum));
    movingVar[k] = static_cast<float>(movingVar[k] * momentum + unbiased * (1 - momentum));
    scale[k] = static_cast<float>(static_cast<double>(saveInvStd[k]) * gamma[k]);
    shift[k] = beta[k];
  }
  affine(v, c, threads, x, y, saveMean, scale, shift);
}

void batchNormForwardInference(int64_t rows, int64_t c, const float* x, const float* gamma, const float* beta,
                        const float* movingMean, const float* movingVar, double eps, float* y) {
  const int threads = threadsFor(rows * c);
  float* scale = scratch(coefBuf, static_cast<size_t>(c));
  for (int64_t k = 0; k < c; k++) scale[k] = static_cast<float>(gamma[k] / std::sqrt(movingVar[k] + eps));
  affine(Folded(rows, c), c, threads, x, y, movingMean, scale, beta);
}

void batchNormBackward(int64_t rows, int64_t c, const float* x, const float* dy, const float* gamma,
                       const float* saveMean, const float* saveInvStd, float* dx, float* dgamma, float* dbeta) {
  const int threads = threadsFor(rows * c);
  const Folded v(rows, c);
  const int64_t w = v.w;
  double* sdy = scratch(statBuf, static_cast<size_t>(2 * c));
  double* sdyx = sdy + c;
  // μ and σ⁻¹ expanded to the virtual channels in an array the compiler knows nothing writes to; the
  // other three per-channel factors of dx = γσ⁻¹ · (dy − mean(dy) − x̂·mean(dy·x̂)), the reference's
  // closed form with N divided through, come after the sums (kept factored: expanded into
  // A·dy + B·x + C it loses the exact zero of a one-row batch)
  // co: Sb, S, A, M, MX over the virtual channels, then A, M, MX per channel (for the tail rows)
  float* co = scratch(coefBuf, static_cast<size_t>(5 * w + 3 * c));
  const float* __restrict Sb = v.expand(saveMean, c, co);
  const float* __restrict S = v.expand(saveInvStd, c, co + w);
  const float* __restrict dyr = dy;
  const float* __restrict xr = x;
  const float* dyt = dy + v.vrows * w;
  const float* xt = x + v.vrows * w;
  foldedSums2(v, c, threads, sdy, sdyx,
              [=](int64_t r, int64_t j) { return dyr[r * w + j]; },
              [=](int64_t r, int64_t j) { return dyr[r * w + j] * ((xr[r * w + j] - Sb[j]) * S[j]); },
              [=](int64_t r, int64_t k) { return static_cast<double>(dyt[r * c + k]); },
              [=](int64_t r, int64_t k) {
                return static_cast<double>(dyt[r * c + k] * ((xt[r * c + k] - saveMean[k]) * saveInvStd[k]));
              });
  float* A1 = co + 5 * w;
  float* M1 = A1 + c;
  float* MX1 = M1 + c;
  for (int64_t k = 0; k < c; k++) {
    dgamma[k] = static_cast<float>(sdyx[k]);
    dbeta[k] = static_cast<float>(sdy[k]);
    A1[k] = static_cast<float>(static_cast<double>(gamma[k]) * saveInvStd[k]);
    M1[k] = static_cast<float>(sdy[k] / static_cast<double>(rows));
    MX1[k] = static_cast<float>(sdyx[k] / static_cast<double>(rows));
  }
  const float* __restrict A = v.expand(A1, c, co + 2 * w);
  const float* __restrict M = v.expand(M1, c, co + 3 * w);
  const float* __restrict MX = v.expand(MX1, c, co + 4 * w);
  float* __restrict dxr = dx;
  auto map = [&](int64_t n, int64_t width, const float* d0, const float* x0, float* o0, const float* __restrict a,
                 const float* __restrict mu, const float* __restrict is, const float* __restrict m,
                 const float* __restrict mx) {
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t r = 0; r < n; r++) {
      const float* __restrict d = d0 + r * width;
      const float* __restrict xx = x0 + r * width;
      float* __restrict o = o0 + r * width;
#pragma omp simd
      for (int64_t k = 0; k < width; k++) o[k] = a[k] * (d[k] - m[k] - (xx[k] - mu[k]) * is[k] * mx[k]);
    }
  };
  map(v.vrows, w, dyr, xr, dxr, A, Sb, S, M, MX);
  map(v.tail, c, dyt, xt, dxr + v.vrows * w, A1, saveMean, saveInvStd, M1, MX1);
}

}  // namespace digits
