// Dense layers: y = x·w + b, dx = dy·wᵀ, dw = xᵀ·dy on the 4x8 micro-kernel. Each thread takes
// whole 8-column panels (forward, backward data) or 4-row tiles of dw (backward weights), so every
// output has one fixed summation order whatever the thread count.
#include "gemm.h"

typedef struct {
  int n, in, out;      // rows, reduction length, columns (of this product)
  const float* a;      // n x in, row-major (lda = in)
  const float* b;      // in x out, row-major (ldb = ldbv)
  int ldb;
  const float* bias;
  float* c;            // n x out (ldc = out)
  int relu, panels, per_chunk;
  char* ts;
} gemm_ctx;

// C[n x out] = A[n x in] · B[in x out] (+ bias, ReLU): a chunk is a run of panels, all row tiles
static void gemm_task(void* vc, int chunk, int tid) {
  const gemm_ctx* C = vc;
  float* tmp = (float*)(C->ts + tid * 256);
  const int p0 = chunk * C->per_chunk, p1 = imin(p0 + C->per_chunk, C->panels);
  for (int p = p0; p < p1; p++) {
    for (int m0 = 0; m0 < C->n; m0 += 4) {
      const int rows = imin(4, C->n - m0);
      seg_t s;
      float* cp[4];
      for (int r = 0; r < 4; r++) {
        const int m = m0 + imin(r, rows - 1);
        s.a[r] = C->a + (size_t)m * C->in;
        cp[r] = C->c + (size_t)m * C->out + p * 8;
      }
      s.b = C->b;
      s.len = C->in;
      tile_store(&s, 1, p * 8, C->ldb, C->bias ? C->bias + p * 8 : 0, cp, rows, imin(8, C->out - p * 8), 0, C->relu, tmp);
    }
  }
}

static void gemm(int n, int in, int out, const float* a, const float* b, int ldb, const float* bias, float* c, int relu) {
  gemm_ctx C = {n, in, out, a, b, ldb, bias, c, relu};
  C.panels = ceil_div(out, 8);
  C.per_chunk = imax(1, C.panels / (4 * threads()));
  C.ts = scratch((size_t)256 * threads());
  parallel_for(ceil_div(C.panels, C.per_chunk), gemm_task, &C);
}

EXPORT(dense_forward) void dense_forward(int n, int in, int out, const float* x, const float* w, const float* b, float* y, int relu) {
  gemm(n, in, out, x, w, out, b, y, relu);
}

typedef struct {
  int rows, cols;
  const float* src;
  float* dst;
} tr_ctx;

// dst[cols x rows] = transpose of src[rows x cols], 32 source rows per task
static void transpose_task(void* vc, int chunk, int tid) {
  (void)tid;
  const tr_ctx* T = vc;
  const int r0 = chunk * 32, r1 = imin(r0 + 32, T->rows);
  for (int j0 = 0; j0 < T->cols; j0 += 32) {
    const int j1 = imin(j0 + 32, T->cols);
    for (int r = r0; r < r1; r++)
      for (int j = j0; j < j1; j++) T->dst[(size_t)j * T->rows + r] = T->src[(size_t)r * T->cols + j];
  }
}

static float* transpose(int rows, int cols, const float* src) {
  tr_ctx T = {rows, cols, src, scratch((size_t)rows * cols * 4)};
  parallel_for(ceil_div(rows, 32), transpose_task, &T);
  return T.dst;
}

EXPORT(dense_backward_data) void dense_backward_data(int n, int in, int out, const float* dy, const float* w, float* dx) {
  const float* wt = transpose(in, out, w);  // out x in
  gemm(n, out, in, dy, wt, in, 0, dx, 0);
}

typedef struct {
  int n, in, out, tiles, panels, per_chunk;
  const float *xt, *dy;
  float* dw;
  char* ts;
} dw_ctx;

static void dw_task(void* vc, int chunk, int tid) {
  const dw_ctx* C = vc;
  float* tmp = (float*)(C->ts + tid * 256);
  const int t0 = chunk * C->per_chunk, t1 = imin(t0 + C->per_chunk, C->tiles);
  for (int t = t0; t < t1; t++) {
    const int i0 = t * 4, rows = imin(4, C->in - i0);
    seg_t s;
    for (int r = 0; r < 4; r++) s.a[r] = C->xt + (size_t)(i0 + imin(r, rows - 1)) * C->n;
    s.b = C->dy;
    s.len = C->n;
    for (int p = 0; p < C->panels; p++) {
      float* cp[4];
      for (int r = 0; r < 4; r++) cp[r] = C->dw + (size_t)(i0 + imin(r, rows - 1)) * C->out + p * 8;
      tile_store(&s, 1, p * 8, C->out, 0, cp, rows, imin(8, C->out - p * 8), 0, 0, tmp);
    }
  }
}

EXPORT(dense_backward_weights) void dense_backward_weights(int n, int in, int out, const float* x, const float* dy, float* dw, float* db) {
  dw_ctx C = {n, in, out};
  C.xt = transpose(n, in, x);  // in x n
  C.dy = dy;
  C.dw = dw;
  C.tiles = ceil_div(in, 4);
  C.panels = ceil_div(out, 8);
  C.per_chunk = imax(1, C.tiles / (8 * threads()));
  C.ts = scratch((size_t)256 * threads());
  parallel_for(ceil_div(C.tiles, C.per_chunk), dw_task, &C);
  if (db) {
    for (int j = 0; j < out; j++) db[j] = 0;
    for (int r = 0; r < n; r++) {
      const float* d = dy + (size_t)r * out;
      int j = 0;
      for (; j + 4 <= out; j += 4) wasm_v128_store(db + j, wasm_f32x4_add(wasm_v128_load(db + j), wasm_v128_load(d + j)));
      for (; j < out; j++) db[j] += d[j];
    }
  }
}
