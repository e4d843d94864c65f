// Element-wise activations, numbered as ELTWISE_KINDS in src/kernels/kernels.ts. The piecewise-linear
// kinds run four lanes at a time in float; the transcendental ones in double, as the reference does.
#include "core.h"

enum { RELU, SIGMOID, TANH, LINEAR, ELU, SELU, LEAKY_RELU, RELU6, SOFTPLUS, SOFTSIGN, HARD_SIGMOID, EXPONENTIAL, SWISH, GELU, MISH };

static const double SELU_SCALE = 1.0507009873554805, SELU_ALPHA = 1.6732632423543772;
static double sigmoid(double x) { return 1 / (1 + d_exp(-x)); }
static double softplus(double x) { return x > 0 ? x + d_log1p(d_exp(-x)) : d_log1p(d_exp(x)); }
static double normal_cdf(double x) { return 0.5 * d_erfc(-x / 1.4142135623730951); }

static double fwd1(int kind, double x, double a) {
  switch (kind) {
    case RELU: return x > 0 ? x : 0;
    case SIGMOID: return sigmoid(x);
    case TANH: return d_tanh(x);
    case LINEAR: return x;
    case ELU: return x > 0 ? x : a * d_expm1(x);
    case SELU: return SELU_SCALE * (x > 0 ? x : SELU_ALPHA * d_expm1(x));
    case LEAKY_RELU: return x > 0 ? x : a * x;
    case RELU6: return x != x ? x : x <= 0 ? 0 : x > 6 ? 6 : x;  // Math.min(Math.max(x, 0), 6)
    case SOFTPLUS: return softplus(x);
    case SOFTSIGN: return x / (1 + (x < 0 ? -x : x));
    case HARD_SIGMOID: { double v = a * x + 0.5; return v < 0 ? 0 : v > 1 ? 1 : v; }
    case EXPONENTIAL: return d_exp(x);
    case SWISH: return x * sigmoid(x);
    case GELU: return x * normal_cdf(x);
    case MISH: return x * d_tanh(softplus(x));
  }
  return x;
}

static double grad1(int kind, double x, double y, double a) {
  switch (kind) {
    case RELU: return x > 0 ? 1 : 0;
    case SIGMOID: return y * (1 - y);
    case TANH: return 1 - y * y;
    case LINEAR: return 1;
    case ELU: return x > 0 ? 1 : a * d_exp(x);
    case SELU: return SELU_SCALE * (x > 0 ? 1 : SELU_ALPHA * d_exp(x));
    case LEAKY_RELU: return x > 0 ? 1 : a;
    case RELU6: return x > 0 && x < 6 ? 1 : 0;
    case SOFTPLUS: return sigmoid(x);
    case SOFTSIGN: { double d = 1 + (x < 0 ? -x : x); return 1 / (d * d); }
    case HARD_SIGMOID: { double v = a * x + 0.5; return v > 0 && v < 1 ? a : 0; }
    case EXPONENTIAL: return y;
    case SWISH: { double s = sigmoid(x); return s * (1 + x * (1 - s)); }
    case GELU: return normal_cdf(x) + x * d_exp(-0.5 * x * x) / 2.5066282746310002;
    case MISH: { double t = d_tanh(softplus(x)); return t + x * (1 - t * t) * sigmoid(x); }
  }
  return 1;
}

typedef struct {
  int kind, len;
  double alpha;
  const float *x, *y, *dy;
  float* out;
} elt_ctx;

#define CHUNK 16384

static void fwd_task(void* vc, int chunk, int tid) {
  (void)tid;
  const elt_ctx* C = vc;
  const int i0 = chunk * CHUNK, i1 = imin(i0 + CHUNK, C->len);
  const float* x = C->x;
  float* y = C->out;
  int i = i0;
  const v4 z = wasm_f32x4_splat(0);
  switch (C->kind) {
    case RELU:  // x > 0 ? x : 0 (NaN → 0 as in the reference)
      for (; i + 4 <= i1; i += 4) { v4 v = wasm_v128_load(x + i); wasm_v128_store(y + i, wasm_v128_and(v, wasm_f32x4_gt(v, z))); }
      break;
    case LINEAR:
      for (; i + 4 <= i1; i += 4) wasm_v128_store(y + i, wasm_v128_load(x + i));
      break;
    case LEAKY_RELU: {
      const v4 a = wasm_f32x4_splat((float)C->alpha);
      for (; i + 4 <= i1; i += 4) { v4 v = wasm_v128_load(x + i); wasm_v128_store(y + i, wasm_v128_bitselect(v, wasm_f32x4_mul(v, a), wasm_f32x4_gt(v, z))); }
      break;
    }
    default: break;
  }
  for (; i < i1; i++) y[i] = (float)fwd1(C->kind, x[i], C->alpha);
}

static void bwd_task(void* vc, int chunk, int tid) {
  (void)tid;
  const elt_ctx* C = vc;
  const int i0 = chunk * CHUNK, i1 = imin(i0 + CHUNK, C->len);
  const float *x = C->x, *dy = C->dy;
  float* dx = C->out;
  int i = i0;
  const v4 z = wasm_f32x4_splat(0), one = wasm_f32x4_splat(1);
  switch (C->kind) {
    case RELU:  // dy · (x > 0 ? 1 : 0), the product kept (dy · 0 is −0 or NaN as in the reference)
      for (; i + 4 <= i1; i += 4)
        wasm_v128_store(dx + i, wasm_f32x4_mul(wasm_v128_load(dy + i), wasm_v128_and(one, wasm_f32x4_gt(wasm_v128_load(x + i), z))));
      break;
    case LINEAR:
      for (; i + 4 <= i1; i += 4) wasm_v128_store(dx + i, wasm_f32x4_mul(wasm_v128_load(dy + i), one));
      break;
    case LEAKY_RELU: {
      const v4 a = wasm_f32x4_splat((float)C->alpha);
      for (; i + 4 <= i1; i += 4)
        wasm_v128_store(dx + i, wasm_f32x4_mul(wasm_v128_load(dy + i), wasm_v128_bitselect(one, a, wasm_f32x4_gt(wasm_v128_load(x + i), z))));
      break;
    }
    default: break;
  }
  for (; i < i1; i++) dx[i] = (float)(dy[i] * grad1(C->kind, x[i], C->y[i], C->alpha));
}

static void run(elt_ctx* C, task_fn fn) {
  const int chunks = ceil_div(C->len, CHUNK);
  // the cheap kinds are memory-bound: only large arrays are worth waking the other threads for
  const int cheap = C->kind == RELU || C->kind == LINEAR || C->kind == LEAKY_RELU;
  if (cheap && C->len < 8 * CHUNK) for (int c = 0; c < chunks; c++) fn(C, c, 0);
  else parallel_for(chunks, fn, C);
}

EXPORT(eltwise_forward) void eltwise_forward(int kind, int len, const float* x, float* y, double alpha) {
  elt_ctx C = {kind, len, alpha, x, 0, 0, y};
  run(&C, fwd_task);
}

EXPORT(eltwise_backward) void eltwise_backward(int kind, int len, const float* x, const float* y, const float* dy, float* dx, double alpha) {
  elt_ctx C = {kind, len, alpha, x, y, dy, dx};
  run(&C, bwd_task);
}
