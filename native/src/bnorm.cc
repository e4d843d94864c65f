// Batch norm as plain loops, two passes over the activation each way (statistics, then the
// element-wise map). The statistics are summed in float within 64-row blocks and in double across
// them (a large batch of a few channels sums ~10^5 values per channel), and the moving-statistics
// update with the unbiased variance is ours to do anyway. Threads take contiguous row ranges and
// keep per-thread channel sums, reduced afterwards in thread order.
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
std::vector<double> partialBuf, statBuf;
std::vector<float> coefBuf, blockSums;

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

}  // namespace

void batchNormTraining(int64_t rows, int64_t c, const float* x, const float* gamma, const float* beta,
                       float* movingMean, float* movingVar, double momentum, double eps, float* y,
                       float* saveMean, float* saveInvStd) {
  const int threads = threadsFor(rows * c);
  double* mean = scratch(statBuf, static_cast<size_t>(3 * c));
  double* sq = mean + c;
  double* shifted = mean + 2 * c;
  // One pass for the sum and the sum of squares, both of x − x[0] (row 0 as a per-channel shift):
  // E[d²]−E[d]² then only loses digits when a channel's mean is many std away from its first value,
  // where the plain E[x²]−E[x]² loses them whenever |mean| ≫ std.
  float* shift0 = scratch(coefBuf, static_cast<size_t>(2 * c));
  for (int64_t k = 0; k < c; k++) shift0[k] = x[k];
  channelSums2(rows, c, threads, shifted, sq,
               [=](int64_t r, int64_t k) { return x[r * c + k] - shift0[k]; },
               [=](int64_t r, int64_t k) { const float d = x[r * c + k] - shift0[k]; return d * d; });
  for (int64_t k = 0; k < c; k++) {
    const double md = shifted[k] / static_cast<double>(rows);
    mean[k] = shift0[k] + md;
    sq[k] = std::max(0.0, sq[k] - md * shifted[k]);  // Σ(x − mean)²
  }
  float* scale = scratch(coefBuf, static_cast<size_t>(2 * c));
  float* shift = scale + c;
  for (int64_t k = 0; k < c; k++) {
    const double v = sq[k] / static_cast<double>(rows);
    saveMean[k] = static_cast<float>(mean[k]);
    saveInvStd[k] = static_cast<float>(1 / std::sqrt(v + eps));
    const double unbiased = rows > 1 ? sq[k] / static_cast<double>(rows - 1) : v;
    movingMean[k] = static_cast<float>(movingMean[k] * momentum + mean[k] * (1 - momentum));
    movingVar[k] = static_cast<float>(movingVar[k] * momentum + unbiased * (1 - momentum));
    scale[k] = static_cast<float>(static_cast<double>(saveInvStd[k]) * gamma[k]);
    shift[k] = beta[k];
  }
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t r = 0; r < rows; r++)
    for (int64_t k = 0; k < c; k++) y[r * c + k] = (x[r * c + k] - saveMean[k]) * scale[k] + shift[k];
}

void batchNormInference(int64_t rows, int64_t c, const float* x, const float* gamma, const float* beta,
                        const float* movingMean, const float* movingVar, double eps, float* y) {
  const int threads = threadsFor(rows * c);
  float* scale = scratch(coefBuf, static_cast<size_t>(2 * c));
  float* shift = scale + c;
  for (int64_t k = 0; k < c; k++) {
    const double s = gamma[k] / std::sqrt(movingVar[k] + eps);
    scale[k] = static_cast<float>(s);
    shift[k] = static_cast<float>(beta[k] - movingMean[k] * s);
  }
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t r = 0; r < rows; r++)
    for (int64_t k = 0; k < c; k++) y[r * c + k] = x[r * c + k] * scale[k] + shift[k];
}

void batchNormBackward(int64_t rows, int64_t c, const float* x, const float* dy, const float* gamma,
                       const float* saveMean, const float* saveInvStd, float* dx, float* dgamma, float* dbeta) {
  const int threads = threadsFor(rows * c);
  double* sdy = scratch(statBuf, static_cast<size_t>(2 * c));
  double* sdyx = sdy + c;
  // μ and σ⁻¹ copied to a local array the compiler knows nothing writes to; the other three
  // per-channel factors of dx = γσ⁻¹ · (dy − mean(dy) − x̂·mean(dy·x̂)), the reference's closed form
  // with N divided through, come after the sums (kept factored: expanded into A·dy + B·x + C it
  // loses the exact zero of a one-row batch)
  float* Sb = scratch(coefBuf, static_cast<size_t>(5 * c));
  float* S = Sb + c;
  float* A = Sb + 2 * c;
  float* M = Sb + 3 * c;
  float* MX = Sb + 4 * c;
  for (int64_t k = 0; k < c; k++) Sb[k] = saveMean[k], S[k] = saveInvStd[k];
  const float* __restrict dyr = dy;
  const float* __restrict xr = x;
  channelSums2(rows, c, threads, sdy, sdyx,
               [=](int64_t r, int64_t k) { return dyr[r * c + k]; },
               [=](int64_t r, int64_t k) { return dyr[r * c + k] * ((xr[r * c + k] - Sb[k]) * S[k]); });
  for (int64_t k = 0; k < c; k++) {
    dgamma[k] = static_cast<float>(sdyx[k]);
    dbeta[k] = static_cast<float>(sdy[k]);
    A[k] = static_cast<float>(static_cast<double>(gamma[k]) * saveInvStd[k]);
    M[k] = static_cast<float>(sdy[k] / static_cast<double>(rows));
    MX[k] = static_cast<float>(sdyx[k] / static_cast<double>(rows));
  }
  float* __restrict dxr = dx;
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t r = 0; r < rows; r++) {
    const float* __restrict d = dyr + r * c;
    const float* __restrict xx = xr + r * c;
    float* __restrict o = dxr + r * c;
    for (int64_t k = 0; k < c; k++) o[k] = A[k] * (d[k] - M[k] - (xx[k] - Sb[k]) * S[k] * MX[k]);
  }
}

}  // namespace digits
