// The one matrix-multiply micro-kernel every convolution and dense kernel runs on: a 4x8 tile of C
// (4 rows, two f32x4 vectors per row, 8 accumulators in registers) accumulating
//   C[r][0..8) += sum over segments s, k < s.len:  s.a[r][k] * B_s[k][0..8)
// where each segment gives four row pointers into A (an im2col row of a convolution is a list of
// such runs: one per kernel tap, or per kernel row when the taps are contiguous) and B_s advances by
// `ldb` floats per k. 4x8 is the largest tile whose accumulators, B vectors and broadcast fit the 16
// xmm registers V8 gives wasm SIMD on x64 (6x8 and 4x12 spilled and ran at half the speed).
#pragma once
#include "core.h"

/**
 * out[i] = Σ_s part[s·stride + i] for i < n, the slots added in order: the weight gradients sum fixed
 * slots of their work (not one per thread) so that results do not depend on the thread count.
 */
static inline void sum_slots(const float* part, int slots, size_t stride, int n, float* out) {
  for (int i = 0; i < n; i++) {
    float v = 0;
    for (int s = 0; s < slots; s++) v += part[(size_t)s * stride + i];
    out[i] = v;
  }
}

typedef struct {
  const float* a[4];
  const float* b;
  int len;
} seg_t;

/**
 * One 4x8 tile: init from `bias` (8 floats, may be null → 0) or, with `accumulate`, from C itself;
 * add the segments' products (B pointers offset by `boff` floats); optional ReLU; store to the four
 * row pointers c[r] (8 floats each). A's rows advance by `as` floats per k (1: contiguous runs; the
 * backward weights reads x's channels at a pixel stride).
 */
INLINE void tile_4x8_body(const seg_t* segs, int nseg, int boff, int as, int ldb, const float* bias, float* const* c,
                          int accumulate, int relu) {
  v4 c00, c01, c10, c11, c20, c21, c30, c31;
  if (accumulate) {
    c00 = wasm_v128_load(c[0]); c01 = wasm_v128_load(c[0] + 4);
    c10 = wasm_v128_load(c[1]); c11 = wasm_v128_load(c[1] + 4);
    c20 = wasm_v128_load(c[2]); c21 = wasm_v128_load(c[2] + 4);
    c30 = wasm_v128_load(c[3]); c31 = wasm_v128_load(c[3] + 4);
  } else if (bias) {
    c00 = c10 = c20 = c30 = wasm_v128_load(bias);
    c01 = c11 = c21 = c31 = wasm_v128_load(bias + 4);
  } else {
    c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = wasm_f32x4_splat(0);
  }
  for (int s = 0; s < nseg; s++) {
    const float *a0 = segs[s].a[0], *a1 = segs[s].a[1], *a2 = segs[s].a[2], *a3 = segs[s].a[3];
    const float* b = segs[s].b + boff;
    const int len = segs[s].len;
    for (int k = 0; k < len; k++) {
      v4 b0 = wasm_v128_load(b), b1 = wasm_v128_load(b + 4);
      b += ldb;
      v4 x = wasm_v128_load32_splat(a0 + k * as);
      c00 = wasm_f32x4_add(c00, wasm_f32x4_mul(x, b0)); c01 = wasm_f32x4_add(c01, wasm_f32x4_mul(x, b1));
      x = wasm_v128_load32_splat(a1 + k * as);
      c10 = wasm_f32x4_add(c10, wasm_f32x4_mul(x, b0)); c11 = wasm_f32x4_add(c11, wasm_f32x4_mul(x, b1));
      x = wasm_v128_load32_splat(a2 + k * as);
      c20 = wasm_f32x4_add(c20, wasm_f32x4_mul(x, b0)); c21 = wasm_f32x4_add(c21, wasm_f32x4_mul(x, b1));
      x = wasm_v128_load32_splat(a3 + k * as);
      c30 = wasm_f32x4_add(c30, wasm_f32x4_mul(x, b0)); c31 = wasm_f32x4_add(c31, wasm_f32x4_mul(x, b1));
    }
  }
  if (relu) {  // pmax(v, 0) = v < 0 ? 0 : v, exactly the reference's `if (y < 0) y = 0` (NaN and -0 kept)
    const v4 z = wasm_f32x4_splat(0);
    c00 = wasm_f32x4_pmax(c00, z); c01 = wasm_f32x4_pmax(c01, z); c10 = wasm_f32x4_pmax(c10, z); c11 = wasm_f32x4_pmax(c11, z);
    c20 = wasm_f32x4_pmax(c20, z); c21 = wasm_f32x4_pmax(c21, z); c30 = wasm_f32x4_pmax(c30, z); c31 = wasm_f32x4_pmax(c31, z);
  }
  wasm_v128_store(c[0], c00); wasm_v128_store(c[0] + 4, c01);
  wasm_v128_store(c[1], c10); wasm_v128_store(c[1] + 4, c11);
  wasm_v128_store(c[2], c20); wasm_v128_store(c[2] + 4, c21);
  wasm_v128_store(c[3], c30); wasm_v128_store(c[3] + 4, c31);
}

static void tile_4x8(const seg_t* segs, int nseg, int boff, int ldb, const float* bias, float* const* c, int accumulate,
                     int relu) {
  tile_4x8_body(segs, nseg, boff, 1, ldb, bias, c, accumulate, relu);
}

/** tile_4x8 accumulating into C (no bias, no ReLU) with A's rows at stride `as`. */
static inline void tile_4x8_strided(const seg_t* segs, int nseg, int boff, int as, int ldb, float* const* c, int accumulate) {
  tile_4x8_body(segs, nseg, boff, as, ldb, 0, c, accumulate, 0);
}

/**
 * tile_4x8 for a tile that may be ragged: only `rows` rows (the others' A pointers must still be
 * readable, their results are dropped) and `cols` columns of C are real; `ldc`-free row pointers.
 * `tmp` is 32 floats of the caller's scratch.
 */
static void tile_store(const seg_t* segs, int nseg, int boff, int ldb, const float* bias, float* const* c, int rows, int cols,
                       int accumulate, int relu, float* tmp) {
  if (rows == 4 && cols == 8) {
    tile_4x8(segs, nseg, boff, ldb, bias, c, accumulate, relu);
    return;
  }
  float* t[4] = {tmp, tmp + 8, tmp + 16, tmp + 24};
  float bb[8];
  if (bias && cols < 8) {
    for (int j = 0; j < 8; j++) bb[j] = j < cols ? bias[j] : 0;
    bias = bb;
  }
  if (accumulate)
    for (int r = 0; r < 4; r++)
      for (int j = 0; j < 8; j++) t[r][j] = r < rows && j < cols ? c[r][j] : 0;
  tile_4x8(segs, nseg, boff, ldb, bias, t, accumulate, relu);
  for (int r = 0; r < rows; r++)
    for (int j = 0; j < cols; j++) c[r][j] = t[r][j];
}

/** tile_store for tile_4x8_strided. */
static inline void tile_store_strided(const seg_t* segs, int nseg, int boff, int as, int ldb, float* const* c, int rows, int cols,
                               int accumulate, float* tmp) {
  if (rows == 4 && cols == 8) {
    tile_4x8_strided(segs, nseg, boff, as, ldb, c, accumulate);
    return;
  }
  float* t[4] = {tmp, tmp + 8, tmp + 16, tmp + 24};
  if (accumulate)
    for (int r = 0; r < 4; r++)
      for (int j = 0; j < 8; j++) t[r][j] = r < rows && j < cols ? c[r][j] : 0;
  tile_4x8_strided(segs, nseg, boff, as, ldb, t, accumulate);
  for (int r = 0; r < rows; r++)
    for (int j = 0; j < cols; j++) c[r][j] = t[r][j];
}
