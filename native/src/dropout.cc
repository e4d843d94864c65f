// Inverted dropout with a counter-based mask: element i is kept when a hash of (seed, i) falls below
// keep·2^24. The TS reference computes the same integers (Math.imul), so both backends draw the same
// mask from the one seed the layer takes from its Rng, and the mask does not depend on thread count.
#include <cmath>
#include <cstdint>

#include "kernels.h"

namespace digits {

static inline uint32_t dropoutHash(uint32_t seed, uint32_t i) {
  uint32_t z = seed ^ (i * 0x9e3779b9u);
  z = (z ^ (z >> 16)) * 0x85ebca6bu;
  z = (z ^ (z >> 13)) * 0xc2b2ae35u;
  return z ^ (z >> 16);
}

void dropoutForward(const float* x, float* y, float* mask, int64_t len, double rate, uint32_t seed) {
  const double keep = 1 - rate;
  const uint32_t threshold = static_cast<uint32_t>(std::floor(keep * 16777216.0));
  const float scale = static_cast<float>(1 / keep);
#pragma omp parallel for simd schedule(static) if (len > (1 << 17))
  for (int64_t i = 0; i < len; i++) {
    const float m = (dropoutHash(seed, static_cast<uint32_t>(i)) >> 8) < threshold ? scale : 0.f;
    mask[i] = m;
    y[i] = x[i] * m;
  }
}

void dropoutBackward(const float* dy, const float* mask, float* dx, int64_t len) {
#pragma omp parallel for simd schedule(static) if (len > (1 << 17))
  for (int64_t i = 0; i < len; i++) dx[i] = dy[i] * mask[i];
}

}  // namespace digits
