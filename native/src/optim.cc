// Keras optimizer updates, fused over every parameter array of a model in one call. Arithmetic is
// float (the reference rounds each stored value to float32 as well); per-step scalars are folded in
// double first.
#include <cmath>

#include "kernels.h"

namespace digits {

// Updates are memory-bound: below ~256k floats a second core saves a few µs at most, while every
// parallel region can stall on a barrier when the cores are shared with other processes.
static bool large(int64_t n) { return n > (1 << 15); }

void sgdUpdate(size_t count, float* const* w, const float* const* g, float* const* v, const int64_t* len,
               double lr, double momentum, bool nesterov) {
  const float lrf = static_cast<float>(lr), mf = static_cast<float>(momentum);
  for (size_t p = 0; p < count; p++) {
    float* wp = w[p];
    const float* gp = g[p];
    const int64_t n = len[p];
    if (!v || momentum == 0) {
#pragma omp parallel for simd schedule(static) if (large(n))
      for (int64_t i = 0; i < n; i++) wp[i] -= lrf * gp[i];
      continue;
    }
    float* vp = v[p];
    if (nesterov) {
#pragma omp parallel for simd schedule(static) if (large(n))
      for (int64_t i = 0; i < n; i++) {
        vp[i] = mf * vp[i] - lrf * gp[i];
        wp[i] += mf * vp[i] - lrf * gp[i];
      }
    } else {
#pragma omp parallel for simd schedule(static) if (large(n))
      for (int64_t i = 0; i < n; i++) {
        vp[i] = mf * vp[i] - lrf * gp[i];
        wp[i] += vp[i];
      }
    }
  }
}

void rmspropUpdate(size_t count, float* const* w, const float* const* g, float* const* ms, const int64_t* len,
                   double lr, double rho, double eps) {
  const float lrf = static_cast<float>(lr), rf = static_cast<float>(rho), r1 = static_cast<float>(1 - rho),
              ef = static_cast<float>(eps);
  for (size_t p = 0; p < count; p++) {
    float *wp = w[p], *sp = ms[p];
    const float* gp = g[p];
    const int64_t n = len[p];
#pragma omp parallel for simd schedule(static) if (large(n))
    for (int64_t i = 0; i < n; i++) {
      sp[i] = rf * sp[i] + r1 * gp[i] * gp[i];
      wp[i] -= lrf * gp[i] / (std::sqrt(sp[i]) + ef);
    }
  }
}

void adamUpdate(size_t count, float* const* w, const float* const* g, float* const* m, float* const* v,
                const int64_t* len, double lr, double beta1, double beta2, double eps, double t, double weightDecay) {
  // AdamW's decay multiplies first (Keras and PyTorch order); keep = 1 leaves Adam's arithmetic as it was
  const float keep = static_cast<float>(1 - lr * weightDecay);
  const float lrT = static_cast<float>(lr * std::sqrt(1 - std::pow(beta2, t)) / (1 - std::pow(beta1, t)));
  const float b1 = static_cast<float>(beta1), c1 = static_cast<float>(1 - beta1), b2 = static_cast<float>(beta2),
              c2 = static_cast<float>(1 - beta2), ef = static_cast<float>(eps);
  for (size_t p = 0; p < count; p++) {
    float *wp = w[p], *mp = m[p], *vp = v[p];
    const float* gp = g[p];
    const int64_t n = len[p];
#pragma omp parallel for simd schedule(static) if (large(n))
    for (int64_t i = 0; i < n; i++) {
      mp[i] = b1 * mp[i] + c1 * gp[i];
      vp[i] = b2 * vp[i] + c2 * gp[i] * gp[i];
      wp[i] = wp[i] * keep - lrT * mp[i] / (std::sqrt(vp[i]) + ef);
    }
  }
}

}  // namespace digits
