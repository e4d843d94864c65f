// Softmax, cross-entropy, dropout and the optimizers.
#include "core.h"

// ---- softmax and cross-entropy (rows are a few classes wide: plain double loops, as the reference) ----

typedef struct {
  int rows, cols;
  const float *x, *dy;
  float* y;
} sm_ctx;

static void softmax_task(void* vc, int chunk, int tid) {
  (void)tid;
  const sm_ctx* C = vc;
  const int r0 = chunk * 64, r1 = imin(r0 + 64, C->rows);
  for (int r = r0; r < r1; r++) {
    const float* x = C->x + (size_t)r * C->cols;
    float* y = C->y + (size_t)r * C->cols;
    float m = -__builtin_inff();
    for (int j = 0; j < C->cols; j++) if (x[j] > m) m = x[j];
    double s = 0;
    for (int j = 0; j < C->cols; j++) { double e = d_exp((double)x[j] - m); y[j] = (float)e; s += e; }
    for (int j = 0; j < C->cols; j++) y[j] = (float)(y[j] / s);
  }
}

EXPORT(softmax_forward) void softmax_forward(int rows, int cols, const float* x, float* y) {
  sm_ctx C = {rows, cols, x, 0, y};
  if ((int64_t)rows * cols > 65536) parallel_for(ceil_div(rows, 64), softmax_task, &C);
  else for (int c = 0; c * 64 < rows; c++) softmax_task(&C, c, 0);
}

EXPORT(softmax_backward) void softmax_backward(int rows, int cols, const float* y, const float* dy, float* dx) {
  for (int r = 0; r < rows; r++) {
    const size_t o = (size_t)r * cols;
    double s = 0;
    for (int j = 0; j < cols; j++) s += (double)dy[o + j] * y[o + j];
    for (int j = 0; j < cols; j++) dx[o + j] = (float)(y[o + j] * ((double)dy[o + j] - s));
  }
}

EXPORT(softmax_cross_entropy) double softmax_cross_entropy(int rows, int cols, const float* p, const float* t, float* dl, double scale) {
  const double lo = 1e-7, hi = 1 - 1e-7;
  double loss = 0;
  const size_t n = (size_t)rows * cols;
  for (size_t j = 0; j < n; j++) {
    if (t[j] != 0) {
      double v = p[j];
      loss -= t[j] * d_log(v < lo ? lo : v > hi ? hi : v);  // Keras' clip; NaN stays NaN
    }
    if (dl) dl[j] = (float)(((double)p[j] - t[j]) / scale);
  }
  return loss;
}

// ---- dropout: the reference's counter-based hash, four indices per vector ----------------------

typedef struct {
  int len;
  uint32_t seed, threshold;
  float scale;
  const float* x;
  float *y, *mask;
} drop_ctx;

#define CHUNK 16384

static void dropout_task(void* vc, int chunk, int tid) {
  (void)tid;
  const drop_ctx* C = vc;
  const int i0 = chunk * CHUNK, i1 = imin(i0 + CHUNK, C->len);
  const v4 seed = wasm_i32x4_splat((int32_t)C->seed), golden = wasm_i32x4_splat((int32_t)0x9e3779b9u);
  const v4 m1 = wasm_i32x4_splat((int32_t)0x85ebca6bu), m2 = wasm_i32x4_splat((int32_t)0xc2b2ae35u);
  const v4 thr = wasm_i32x4_splat((int32_t)C->threshold), sc = wasm_f32x4_splat(C->scale);
  int i = i0;
  for (; i + 4 <= i1; i += 4) {
    v4 idx = wasm_i32x4_add(wasm_i32x4_splat(i), wasm_i32x4_make(0, 1, 2, 3));
    v4 z = wasm_v128_xor(seed, wasm_i32x4_mul(idx, golden));
    z = wasm_i32x4_mul(wasm_v128_xor(z, wasm_u32x4_shr(z, 16)), m1);
    z = wasm_i32x4_mul(wasm_v128_xor(z, wasm_u32x4_shr(z, 13)), m2);
    z = wasm_v128_xor(z, wasm_u32x4_shr(z, 16));
    v4 keep = wasm_u32x4_lt(wasm_u32x4_shr(z, 8), thr);
    v4 m = wasm_v128_and(sc, keep);
    wasm_v128_store(C->mask + i, m);
    wasm_v128_store(C->y + i, wasm_f32x4_mul(wasm_v128_load(C->x + i), m));
  }
  for (; i < i1; i++) {
    uint32_t z = C->seed ^ ((uint32_t)i * 0x9e3779b9u);
    z = (z ^ (z >> 16)) * 0x85ebca6bu;
    z = (z ^ (z >> 13)) * 0xc2b2ae35u;
    z ^= z >> 16;
    float m = (z >> 8) < C->threshold ? C->scale : 0;
    C->mask[i] = m;
    C->y[i] = C->x[i] * m;
  }
}

EXPORT(dropout_forward) void dropout_forward(int len, const float* x, float* y, float* mask, double rate, uint32_t seed) {
  const double keep = 1 - rate;
  drop_ctx C = {len, seed, (uint32_t)__builtin_floor(keep * 16777216), (float)(1 / keep), x, y, mask};
  const int chunks = ceil_div(len, CHUNK);
  if (len >= 8 * CHUNK) parallel_for(chunks, dropout_task, &C);
  else for (int c = 0; c < chunks; c++) dropout_task(&C, c, 0);
}

EXPORT(mul_arrays) void mul_arrays(int len, const float* a, const float* b, float* out) {
  int i = 0;
  for (; i + 4 <= len; i += 4) wasm_v128_store(out + i, wasm_f32x4_mul(wasm_v128_load(a + i), wasm_v128_load(b + i)));
  for (; i < len; i++) out[i] = a[i] * b[i];
}

// ---- optimizers: one call updates every array; the table holds per array w, g, s1, s2, len ----
// Arithmetic in float like the native core; per-step scalars are folded in double first.

enum { SGD, SGD_MOMENTUM, SGD_NESTEROV, RMSPROP, ADAM };
typedef struct {
  int kind, count;
  const int32_t* table;  // count x 5
  float k[8];            // the kind's scalars
} opt_ctx;

static void opt_task(void* vc, int chunk, int tid) {
  (void)tid;
  const opt_ctx* C = vc;
  int p = 0, first = 0;  // the array and range of this chunk
  for (; p < C->count; p++) {
    int n = ceil_div(C->table[p * 5 + 4], CHUNK);
    if (chunk < first + n) break;
    first += n;
  }
  const int32_t* t = C->table + p * 5;
  float* w = (float*)t[0];
  const float* g = (const float*)t[1];
  float *s1 = (float*)t[2], *s2 = (float*)t[3];
  const int i0 = (chunk - first) * CHUNK, i1 = imin(i0 + CHUNK, t[4]);
  const float* k = C->k;
  int i = i0;
  switch (C->kind) {
    case SGD: {  // w −= lr·g
      const v4 lr = wasm_f32x4_splat(k[0]);
      for (; i + 4 <= i1; i += 4) wasm_v128_store(w + i, wasm_f32x4_sub(wasm_v128_load(w + i), wasm_f32x4_mul(lr, wasm_v128_load(g + i))));
      for (; i < i1; i++) w[i] -= k[0] * g[i];
      break;
    }
    case SGD_MOMENTUM:
    case SGD_NESTEROV: {  // v = m·v − lr·g; w += v (nesterov: w += m·v − lr·g)
      const v4 lr = wasm_f32x4_splat(k[0]), m = wasm_f32x4_splat(k[1]);
      const int nest = C->kind == SGD_NESTEROV;
      for (; i + 4 <= i1; i += 4) {
        v4 lg = wasm_f32x4_mul(lr, wasm_v128_load(g + i));
        v4 v = wasm_f32x4_sub(wasm_f32x4_mul(m, wasm_v128_load(s1 + i)), lg);
        wasm_v128_store(s1 + i, v);
        wasm_v128_store(w + i, wasm_f32x4_add(wasm_v128_load(w + i), nest ? wasm_f32x4_sub(wasm_f32x4_mul(m, v), lg) : v));
      }
      for (; i < i1; i++) {
        s1[i] = k[1] * s1[i] - k[0] * g[i];
        w[i] += nest ? k[1] * s1[i] - k[0] * g[i] : s1[i];
      }
      break;
    }
    case RMSPROP: {  // ms = ρ·ms + (1−ρ)·g²; w −= lr·g/(√ms + ε)
      const v4 lr = wasm_f32x4_splat(k[0]), rho = wasm_f32x4_splat(k[1]), r1 = wasm_f32x4_splat(k[2]), eps = wasm_f32x4_splat(k[3]);
      for (; i + 4 <= i1; i += 4) {
        v4 gv = wasm_v128_load(g + i);
        v4 s = wasm_f32x4_add(wasm_f32x4_mul(rho, wasm_v128_load(s1 + i)), wasm_f32x4_mul(wasm_f32x4_mul(r1, gv), gv));
        wasm_v128_store(s1 + i, s);
        wasm_v128_store(w + i, wasm_f32x4_sub(wasm_v128_load(w + i), wasm_f32x4_div(wasm_f32x4_mul(lr, gv), wasm_f32x4_add(wasm_f32x4_sqrt(s), eps))));
      }
      for (; i < i1; i++) {
        s1[i] = k[1] * s1[i] + k[2] * g[i] * g[i];
        w[i] -= k[0] * g[i] / (f_sqrt(s1[i]) + k[3]);
      }
      break;
    }
    case ADAM: {  // m = β₁m + (1−β₁)g; v = β₂v + (1−β₂)g²; w = w·keep − lr_t·m/(√v + ε)
      const v4 b1 = wasm_f32x4_splat(k[0]), c1 = wasm_f32x4_splat(k[1]), b2 = wasm_f32x4_splat(k[2]), c2 = wasm_f32x4_splat(k[3]);
      const v4 eps = wasm_f32x4_splat(k[4]), lrt = wasm_f32x4_splat(k[5]), keep = wasm_f32x4_splat(k[6]);
      for (; i + 4 <= i1; i += 4) {
        v4 gv = wasm_v128_load(g + i);
        v4 m = wasm_f32x4_add(wasm_f32x4_mul(b1, wasm_v128_load(s1 + i)), wasm_f32x4_mul(c1, gv));
        v4 v = wasm_f32x4_add(wasm_f32x4_mul(b2, wasm_v128_load(s2 + i)), wasm_f32x4_mul(wasm_f32x4_mul(c2, gv), gv));
        wasm_v128_store(s1 + i, m);
        wasm_v128_store(s2 + i, v);
        v4 step = wasm_f32x4_div(wasm_f32x4_mul(lrt, m), wasm_f32x4_add(wasm_f32x4_sqrt(v), eps));
        wasm_v128_store(w + i, wasm_f32x4_sub(wasm_f32x4_mul(wasm_v128_load(w + i), keep), step));
      }
      for (; i < i1; i++) {
        s1[i] = k[0] * s1[i] + k[1] * g[i];
        s2[i] = k[2] * s2[i] + k[3] * g[i] * g[i];
        w[i] = w[i] * k[6] - k[5] * s1[i] / (f_sqrt(s2[i]) + k[4]);
      }
      break;
    }
  }
}

static void run_opt(opt_ctx* C) {
  int chunks = 0;
  for (int p = 0; p < C->count; p++) chunks += ceil_div(C->table[p * 5 + 4], CHUNK);
  if (chunks >= 16) parallel_for(chunks, opt_task, C);  // memory-bound: small models stay on one thread
  else for (int c = 0; c < chunks; c++) opt_task(C, c, 0);
}

EXPORT(sgd_update) void sgd_update(int count, const int32_t* table, double lr, double momentum, int nesterov, int has_velocity) {
  opt_ctx C = {!has_velocity || momentum == 0 ? SGD : nesterov ? SGD_NESTEROV : SGD_MOMENTUM, count, table, {(float)lr, (float)momentum}};
  run_opt(&C);
}

EXPORT(rmsprop_update) void rmsprop_update(int count, const int32_t* table, double lr, double rho, double eps) {
  opt_ctx C = {RMSPROP, count, table, {(float)lr, (float)rho, (float)(1 - rho), (float)eps}};
  run_opt(&C);
}

EXPORT(adam_update) void adam_update(int count, const int32_t* table, double beta1, double beta2, double eps, double lrt, double keep) {
  // lrt = lr·√(1−β₂ᵗ)/(1−β₁ᵗ) and keep = 1 − lr·weightDecay come folded in double from JS
  opt_ctx C = {ADAM, count, table, {(float)beta1, (float)(1 - beta1), (float)beta2, (float)(1 - beta2), (float)eps, (float)lrt, (float)keep}};
  run_opt(&C);
}
