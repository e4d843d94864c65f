// Batch normalisation over `rows` rows of `c` channels. Channel sums are taken in double over 8
// fixed row slices (in parallel) and added in slice order, so results do not depend on threads.
#include "core.h"

#define SLICES 8

typedef struct {
  int rows, c;
  const float *x, *dy;
  const double* mean;      // pass 2: the batch mean
  const float *sm, *si;    // backward: saved mean and inverse std
  double* part;            // SLICES x (2c)
  int pass;
} sum_ctx;

static void sums_task(void* vc, int s, int tid) {
  (void)tid;
  const sum_ctx* C = vc;
  const int c = C->c, r0 = (int)((int64_t)C->rows * s / SLICES), r1 = (int)((int64_t)C->rows * (s + 1) / SLICES);
  double* a = C->part + (size_t)s * 2 * c;
  double* b = a + c;
  for (int k = 0; k < 2 * c; k++) a[k] = 0;
  for (int r = r0; r < r1; r++) {
    const float* x = C->x + (size_t)r * c;
    if (C->pass == 0) {
      for (int k = 0; k < c; k++) a[k] += x[k];
    } else if (C->pass == 1) {
      for (int k = 0; k < c; k++) { double d = x[k] - C->mean[k]; a[k] += d * d; }
    } else {
      const float* dy = C->dy + (size_t)r * c;
      for (int k = 0; k < c; k++) {
        float xh = (x[k] - C->sm[k]) * C->si[k];
        a[k] += dy[k];
        b[k] += (double)dy[k] * xh;
      }
    }
  }
}

static void slice_sums(sum_ctx* C, double* out /* 2c */) {
  parallel_for(SLICES, sums_task, C);
  for (int k = 0; k < 2 * C->c; k++) out[k] = 0;
  for (int s = 0; s < SLICES; s++)
    for (int k = 0; k < 2 * C->c; k++) out[k] += C->part[(size_t)s * 2 * C->c + k];
}

typedef struct {
  int rows, c;
  const float* x;
  float* y;
  const float *scale, *shift, *scale2;  // y = x·scale + shift, or backward: dx = dy·scale + shift + xhat·scale2
  const float *dy, *sm, *si;
  float n;  // backward: rows
} affine_ctx;

static void affine_task(void* vc, int s, int tid);
static void for_slices(int rows, void* ctx) {
  if (rows >= 4096) parallel_for(64, affine_task, ctx);
  else for (int s = 0; s < 64; s++) affine_task(ctx, s, 0);
}

static void affine_task(void* vc, int s, int tid) {
  (void)tid;
  const affine_ctx* C = vc;
  const int c = C->c, r0 = (int)((int64_t)C->rows * s / 64), r1 = (int)((int64_t)C->rows * (s + 1) / 64);
  for (int r = r0; r < r1; r++) {
    const size_t o = (size_t)r * c;
    int k = 0;
    if (!C->dy) {
      for (; k + 4 <= c; k += 4)
        wasm_v128_store(C->y + o + k, wasm_f32x4_add(wasm_f32x4_mul(wasm_v128_load(C->x + o + k), wasm_v128_load(C->scale + k)), wasm_v128_load(C->shift + k)));
      for (; k < c; k++) C->y[o + k] = C->x[o + k] * C->scale[k] + C->shift[k];
    } else {
      // the reference's order: coef·((N·dy − Σdy) − x̂·Σdy·x̂), coef = γ·inv/N
      const v4 nf = wasm_f32x4_splat(C->n);
      for (; k + 4 <= c; k += 4) {
        v4 xh = wasm_f32x4_mul(wasm_f32x4_sub(wasm_v128_load(C->x + o + k), wasm_v128_load(C->sm + k)), wasm_v128_load(C->si + k));
        v4 t = wasm_f32x4_sub(wasm_f32x4_mul(nf, wasm_v128_load(C->dy + o + k)), wasm_v128_load(C->shift + k));
        t = wasm_f32x4_sub(t, wasm_f32x4_mul(xh, wasm_v128_load(C->scale2 + k)));
        wasm_v128_store(C->y + o + k, wasm_f32x4_mul(wasm_v128_load(C->scale + k), t));
      }
      for (; k < c; k++) {
        float xh = (C->x[o + k] - C->sm[k]) * C->si[k];
        C->y[o + k] = C->scale[k] * ((C->n * C->dy[o + k] - C->shift[k]) - xh * C->scale2[k]);
      }
    }
  }
}

EXPORT(batchnorm_forward_training)
void batchnorm_forward_training(int rows, int c, const float* x, const float* gamma, const float* beta, float* mm, float* mv,
                                double momentum, double eps, float* y, float* save_mean, float* save_inv) {
  sum_ctx S = {rows, c, x, 0, 0, 0, 0, scratch((size_t)SLICES * 2 * c * 8), 0};
  double* tot = scratch((size_t)2 * c * 8);
  double* mean = scratch((size_t)c * 8);
  slice_sums(&S, tot);
  for (int k = 0; k < c; k++) mean[k] = tot[k] / rows;
  S.pass = 1;
  S.mean = mean;
  slice_sums(&S, tot);
  float* scale = scratch((size_t)c * 4);
  float* shift = scratch((size_t)c * 4);
  for (int k = 0; k < c; k++) {
    double v = tot[k] / rows;
    save_mean[k] = (float)mean[k];
    save_inv[k] = (float)(1 / d_sqrt(v + eps));
    double unbiased = rows > 1 ? tot[k] / (rows - 1) : v;
    mm[k] = (float)(mm[k] * momentum + mean[k] * (1 - momentum));
    mv[k] = (float)(mv[k] * momentum + unbiased * (1 - momentum));
    // y = (x − mean)·inv·γ + β = x·(inv·γ) + (β − mean·inv·γ)
    double s = (double)save_inv[k] * gamma[k];
    scale[k] = (float)s;
    shift[k] = (float)(beta[k] - (double)save_mean[k] * s);
  }
  affine_ctx A = {rows, c, x, y, scale, shift};
  for_slices(rows, &A);
}

EXPORT(batchnorm_forward_inference)
void batchnorm_forward_inference(int rows, int c, const float* x, const float* gamma, const float* beta, const float* mm,
                                 const float* mv, double eps, float* y) {
  float* scale = scratch((size_t)c * 4);
  float* shift = scratch((size_t)c * 4);
  for (int k = 0; k < c; k++) {
    double s = gamma[k] / d_sqrt(mv[k] + eps);
    scale[k] = (float)s;
    shift[k] = (float)(beta[k] - mm[k] * s);
  }
  affine_ctx A = {rows, c, x, y, scale, shift};
  for_slices(rows, &A);
}

EXPORT(batchnorm_backward)
void batchnorm_backward(int rows, int c, const float* x, const float* dy, const float* gamma, const float* sm, const float* si,
                        float* dx, float* dgamma, float* dbeta) {
  sum_ctx S = {rows, c, x, dy, 0, sm, si, scratch((size_t)SLICES * 2 * c * 8), 2};
  double* tot = scratch((size_t)2 * c * 8);
  slice_sums(&S, tot);
  float* scale = scratch((size_t)c * 4);
  float* shift = scratch((size_t)c * 4);
  float* scale2 = scratch((size_t)c * 4);
  for (int k = 0; k < c; k++) {
    const double sdy = tot[k], sdyx = tot[c + k];
    dgamma[k] = (float)sdyx;
    dbeta[k] = (float)sdy;
    // dx = γ·inv/N · (N·dy − Σdy − x̂·Σdy·x̂)
    scale[k] = (float)((double)gamma[k] * si[k] / rows);
    shift[k] = (float)sdy;
    scale2[k] = (float)sdyx;
  }
  affine_ctx A = {rows, c, x, dx, scale, shift, scale2, dy, sm, si, (float)rows};
  for_slices(rows, &A);
}
