// Batch norm as plain loops: the statistics are accumulated in double like the reference (a large
// batch of a few channels sums ~10^5 values per channel), and the moving-statistics update with the
// unbiased variance is ours to do anyway. Threads take contiguous row ranges and keep per-thread
// channel sums, reduced afterwards in thread order.
#include <omp.h>

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
std::vector<float> coefBuf;

int threadsFor(int64_t elems) { return elems > 32768 ? omp_get_max_threads() : 1; }

// Per-channel sums of f(row, k) over all rows, in double; out[k] for k < c.
template <class F>
void channelSums(int64_t rows, int64_t c, int threads, double* out, F f) {
  double* part = scratch(partialBuf, static_cast<size_t>(threads * c));
  std::memset(part, 0, sizeof(double) * static_cast<size_t>(threads * c));
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    double* acc = part + t * c;
    const int64_t r0 = rows * t / nt, r1 = rows * (t + 1) / nt;
    for (int64_t r = r0; r < r1; r++)
      for (int64_t k = 0; k < c; k++) acc[k] += f(r, k);
  }
  for (int64_t k = 0; k < c; k++) {
    double s = 0;
    for (int t = 0; t < threads; t++) s += part[t * c + k];
    out[k] = s;
  }
}

}  // namespace

void batchNormTraining(int64_t rows, int64_t c, const float* x, const float* gamma, const float* beta,
                       float* movingMean, float* movingVar, double momentum, double eps, float* y,
                       float* saveMean, float* saveInvStd) {
  const int threads = threadsFor(rows * c);
  double* mean = scratch(statBuf, static_cast<size_t>(2 * c));
  double* sq = mean + c;
  channelSums(rows, c, threads, mean, [&](int64_t r, int64_t k) { return static_cast<double>(x[r * c + k]); });
  for (int64_t k = 0; k < c; k++) mean[k] /= static_cast<double>(rows);
  // Two passes (sum, then centred squares) like the reference: E[x²]−E[x]² loses digits when |mean| ≫ std.
  channelSums(rows, c, threads, sq, [&](int64_t r, int64_t k) {
    const double d = x[r * c + k] - mean[k];
    return d * d;
  });
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
  channelSums(rows, c, threads, sdy, [&](int64_t r, int64_t k) { return static_cast<double>(dy[r * c + k]); });
  channelSums(rows, c, threads, sdyx, [&](int64_t r, int64_t k) {
    const double xh = (static_cast<double>(x[r * c + k]) - saveMean[k]) * saveInvStd[k];
    return dy[r * c + k] * xh;
  });
  // dx = γσ⁻¹ · (dy − mean(dy) − x̂·mean(dy·x̂)), the reference's closed form with N divided through
  float* a = scratch(coefBuf, static_cast<size_t>(3 * c));
  float* mdy = a + c;
  float* mdyx = a + 2 * c;
  for (int64_t k = 0; k < c; k++) {
    dgamma[k] = static_cast<float>(sdyx[k]);
    dbeta[k] = static_cast<float>(sdy[k]);
    a[k] = static_cast<float>(static_cast<double>(gamma[k]) * saveInvStd[k]);
    mdy[k] = static_cast<float>(sdy[k] / static_cast<double>(rows));
    mdyx[k] = static_cast<float>(sdyx[k] / static_cast<double>(rows));
  }
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t r = 0; r < rows; r++) {
    for (int64_t k = 0; k < c; k++) {
      const int64_t i = r * c + k;
      const float xh = (x[i] - saveMean[k]) * saveInvStd[k];
      dx[i] = a[k] * (dy[i] - mdy[k] - xh * mdyx[k]);
    }
  }
}

}  // namespace digits
