// Max pooling as plain loops rather than oneDNN: the TS-visible workspace is the flat input index of
// each winner (so either backend's backward accepts either backend's forward), which oneDNN's
// workspace is not, and a 2x2 window over contiguous channels is memory-bound anyway.
#include <algorithm>
#include <cstring>

#include "kernels.h"

namespace digits {

namespace {

// The common case, a 2x2 window inside the image: one pass over the channels comparing four rows
// in registers, instead of four read-modify-write passes over y and the workspace.
void window2x2(const float* __restrict x, int64_t base, int64_t rowStep, int64_t c, float* __restrict y,
               int32_t* __restrict ws) {
  const float *a = x + base, *b = a + c, *d = a + rowStep, *e = d + c;
  const int32_t ia = static_cast<int32_t>(base), ib = static_cast<int32_t>(base + c),
                id = static_cast<int32_t>(base + rowStep), ie = static_cast<int32_t>(base + rowStep + c);
  for (int64_t k = 0; k < c; k++) {
    float best = a[k];
    int32_t arg = ia;
    if (b[k] > best) best = b[k], arg = ib;  // strict: ties keep the earlier cell, as in the reference
    if (d[k] > best) best = d[k], arg = id;
    if (e[k] > best) best = e[k], arg = ie;
    y[k] = best;
    ws[k] = arg + static_cast<int32_t>(k);
  }
}

// Any window, clipped to the image: the first cell in it wins unconditionally (even NaN or -inf),
// later ones only when strictly greater, which is the reference's rule.
void windowAny(const PoolGeom& g, const float* x, int64_t b, int64_t oy, int64_t ox, float* __restrict y,
               int32_t* __restrict ws) {
  const int64_t c = g.c;
  bool first = true;
  for (int64_t py = 0; py < g.ph; py++) {
    const int64_t iy = oy * g.sh + py - g.padTop;
    if (iy < 0 || iy >= g.h) continue;
    for (int64_t px = 0; px < g.pw; px++) {
      const int64_t ix = ox * g.sw + px - g.padLeft;
      if (ix < 0 || ix >= g.w) continue;
      const int64_t base = ((b * g.h + iy) * g.w + ix) * c;
      const float* __restrict xr = x + base;
      for (int64_t k = 0; k < c; k++) {
        const bool win = first || xr[k] > y[k];
        y[k] = win ? xr[k] : y[k];
        ws[k] = win ? static_cast<int32_t>(base + k) : ws[k];
      }
      first = false;
    }
  }
  if (first) {
    for (int64_t k = 0; k < c; k++) y[k] = -__builtin_inff(), ws[k] = -1;
  }
}

}  // namespace

void maxPool2dForward(const PoolGeom& g, const float* x, float* y, int32_t* ws) {
  const int64_t c = g.c;
  const bool two = g.ph == 2 && g.pw == 2;
#pragma omp parallel for collapse(2) schedule(static) if (g.n * g.oh * g.ow * c > 65536)
  for (int64_t b = 0; b < g.n; b++) {
    for (int64_t oy = 0; oy < g.oh; oy++) {
      const int64_t iy = oy * g.sh - g.padTop;
      const bool rowInside = iy >= 0 && iy + g.ph <= g.h;
      for (int64_t ox = 0; ox < g.ow; ox++) {
        const int64_t o = ((b * g.oh + oy) * g.ow + ox) * c;
        const int64_t ix = ox * g.sw - g.padLeft;
        if (two && rowInside && ix >= 0 && ix + 2 <= g.w)
          window2x2(x, ((b * g.h + iy) * g.w + ix) * c, g.w * c, c, y + o, ws + o);
        else
          windowAny(g, x, b, oy, ox, y + o, ws + o);
      }
    }
  }
}

void maxPool2dBackward(const PoolGeom& g, const float* dy, const int32_t* ws, float* dx, int64_t dxLen,
                     const float* reluOf) {
  const int64_t per = g.oh * g.ow * g.c, in = g.h * g.w * g.c;
  // Winners of sample b lie in sample b's slice of dx, so samples scatter independently, and within
  // a sample the order is the reference's (it matters when overlapping windows share a winner).
  // Each sample's slice is cleared just before its scatter, while it is in this core's cache.
#pragma omp parallel for schedule(static) if (g.n * per > 65536)
  for (int64_t b = 0; b < g.n; b++) {
    const int64_t lo = std::min(b * in, dxLen), hi = std::min((b + 1) * in, dxLen);
    std::memset(dx + lo, 0, sizeof(float) * static_cast<size_t>(hi - lo));
  }
  if (g.n * in < dxLen) std::memset(dx + g.n * in, 0, sizeof(float) * static_cast<size_t>(dxLen - g.n * in));
#pragma omp parallel for schedule(static) if (g.n * per > 65536)
  for (int64_t b = 0; b < g.n; b++) {
    for (int64_t i = b * per; i < (b + 1) * per; i++) {
      const int64_t j = ws[i];
      if (reluOf && !(reluOf[i] > 0)) continue;
      if (j >= 0 && j < dxLen) dx[j] += dy[i];  // out-of-range is a no-op, like a typed-array store
    }
  }
}

}  // namespace digits
