// Softmax and the fused softmax + cross-entropy gradient as plain loops: rows are 10 classes wide,
// far too narrow for a oneDNN primitive's dispatch to pay off.
#include <algorithm>
#include <cmath>

#include "kernels.h"

namespace digits {

static bool wide(int64_t rows, int64_t cols) { return rows * cols > 16384; }

void softmaxForward(int64_t rows, int64_t cols, const float* x, float* y) {
#pragma omp parallel for schedule(static) if (wide(rows, cols))
  for (int64_t r = 0; r < rows; r++) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    float m = -INFINITY;
    for (int64_t j = 0; j < cols; j++) m = std::max(m, xr[j]);
    double s = 0;
    for (int64_t j = 0; j < cols; j++) {
      yr[j] = std::exp(xr[j] - m);
      s += yr[j];
    }
    const float inv = static_cast<float>(1 / s);
    for (int64_t j = 0; j < cols; j++) yr[j] *= inv;
  }
}

void softmaxBackward(int64_t rows, int64_t cols, const float* y, const float* dy, float* dx) {
#pragma omp parallel for schedule(static) if (wide(rows, cols))
  for (int64_t r = 0; r < rows; r++) {
    const int64_t o = r * cols;
    double s = 0;
    for (int64_t j = 0; j < cols; j++) s += static_cast<double>(dy[o + j]) * y[o + j];
    const float sf = static_cast<float>(s);
    for (int64_t j = 0; j < cols; j++) dx[o + j] = y[o + j] * (dy[o + j] - sf);
  }
}

double softmaxCrossEntropy(int64_t rows, int64_t cols, const float* p, const float* t, float* dlogits,
                           double scale) {
  const double lo = 1e-7, hi = 1 - 1e-7;  // Keras' epsilon clip, in double as the reference does it
  double loss = 0;
#pragma omp parallel for schedule(static) reduction(+ : loss) if (wide(rows, cols))
  for (int64_t r = 0; r < rows; r++) {
    for (int64_t j = r * cols; j < (r + 1) * cols; j++) {
      if (t[j] != 0) loss -= t[j] * std::log(std::min(std::max(static_cast<double>(p[j]), lo), hi));
      if (dlogits) dlogits[j] = static_cast<float>((static_cast<double>(p[j]) - t[j]) / scale);
    }
  }
  return loss;
}

}  // namespace digits
