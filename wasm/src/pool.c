// Max and average pooling (NHWC), four channels per vector. Max pooling keeps the reference's
// tie rule (the first cell in window order wins: a later one must be strictly greater) and records
// each winner's flat input index.
#include "core.h"

typedef struct {
  pool_geom g;
  const float* x;
  float* y;
  int32_t* ws;
} pool_ctx;

static void maxpool_row(void* vc, int row, int tid) {
  (void)tid;
  const pool_ctx* C = vc;
  const pool_geom* g = &C->g;
  const int c = g->c, b = row / g->oh, oy = row - b * g->oh;
  const int y0 = oy * g->sh - g->pt, py0 = imax(0, -y0), py1 = imin(g->ph, g->h - y0);
  for (int ox = 0; ox < g->ow; ox++) {
    const int x0 = ox * g->sw - g->pl, px0 = imax(0, -x0), px1 = imin(g->pw, g->w - x0);
    const int o = ((b * g->oh + oy) * g->ow + ox) * c;
    if (py0 >= py1 || px0 >= px1) {  // a window entirely in the padding: the reference's initial values
      for (int ci = 0; ci < c; ci++) { C->y[o + ci] = -__builtin_inff(); C->ws[o + ci] = -1; }
      continue;
    }
    const int first = ((b * g->h + y0 + py0) * g->w + x0 + px0) * c;
    int ci = 0;
    for (; ci + 4 <= c; ci += 4) {
      v4 best = wasm_v128_load(C->x + first + ci);
      v4 arg = wasm_i32x4_add(wasm_i32x4_splat(first + ci), wasm_i32x4_make(0, 1, 2, 3));
      for (int py = py0; py < py1; py++)
        for (int px = px0; px < px1; px++) {
          const int i = ((b * g->h + y0 + py) * g->w + x0 + px) * c + ci;
          if (i == first + ci) continue;
          v4 v = wasm_v128_load(C->x + i);
          v4 m = wasm_f32x4_gt(v, best);
          best = wasm_v128_bitselect(v, best, m);
          arg = wasm_v128_bitselect(wasm_i32x4_add(wasm_i32x4_splat(i), wasm_i32x4_make(0, 1, 2, 3)), arg, m);
        }
      wasm_v128_store(C->y + o + ci, best);
      wasm_v128_store(C->ws + o + ci, arg);
    }
    for (; ci < c; ci++) {
      float best = C->x[first + ci];
      int arg = first + ci;
      for (int py = py0; py < py1; py++)
        for (int px = px0; px < px1; px++) {
          const int i = ((b * g->h + y0 + py) * g->w + x0 + px) * c + ci;
          if (C->x[i] > best) { best = C->x[i]; arg = i; }
        }
      C->y[o + ci] = best;
      C->ws[o + ci] = arg;
    }
  }
}

/** 2x2 windows at stride 2 inside the input, c % 4 == 0: the common pooling, without index arithmetic per cell. */
static int pool_2x2(const pool_geom* g) {
  return g->ph == 2 && g->pw == 2 && g->sh == 2 && g->sw == 2 && g->pt == 0 && g->pl == 0 && 2 * g->oh <= g->h &&
         2 * g->ow <= g->w && g->c % 4 == 0;
}

static void maxpool_2x2_row(void* vc, int row, int tid) {
  (void)tid;
  const pool_ctx* C = vc;
  const pool_geom* g = &C->g;
  const int c = g->c, b = row / g->oh, py = row - b * g->oh, wc = g->w * c;
  const v4 lane = wasm_i32x4_make(0, 1, 2, 3);
  for (int px = 0; px < g->ow; px++) {
    const int i0 = ((b * g->h + 2 * py) * g->w + 2 * px) * c, o = ((b * g->oh + py) * g->ow + px) * c;
    const int cell[4] = {i0, i0 + c, i0 + wc, i0 + wc + c};  // window order: a later cell must be strictly greater
    for (int ci = 0; ci < c; ci += 4) {
      v4 best = wasm_v128_load(C->x + i0 + ci), arg = wasm_i32x4_add(wasm_i32x4_splat(i0 + ci), lane);
      for (int q = 1; q < 4; q++) {
        const v4 v = wasm_v128_load(C->x + cell[q] + ci), m = wasm_f32x4_gt(v, best);
        best = wasm_v128_bitselect(v, best, m);
        arg = wasm_v128_bitselect(wasm_i32x4_add(wasm_i32x4_splat(cell[q] + ci), lane), arg, m);
      }
      wasm_v128_store(C->y + o + ci, best);
      wasm_v128_store(C->ws + o + ci, arg);
    }
  }
}

void maxpool_forward_impl(const pool_geom* g, const float* x, float* y, int32_t* ws) {
  pool_ctx C = {*g, x, y, ws};
  parallel_for(g->n * g->oh, pool_2x2(g) ? maxpool_2x2_row : maxpool_row, &C);
}

// The 2x2 backward as a gather: each input cell belongs to one window, and gets its dy when the
// window's winner is that cell (and relu_of > 0), else 0. A winner outside its window (a workspace
// not from the forward) sets `foreign`, and the caller then runs the general scatter.
typedef struct {
  pool_geom g;
  const float *dy, *relu_of;
  const int32_t* ws;
  float* dx;
  int foreign;
} pool_bwd_ctx;

static void maxpool_2x2_bwd_rows(void* vc, int ry, int tid) {
  (void)tid;
  pool_bwd_ctx* C = vc;
  const pool_geom* g = &C->g;
  const int c = g->c, hh = ceil_div(g->h, 2), b = ry / hh, py = ry - b * hh, wc = g->w * c;
  float* r0 = C->dx + (b * g->h + 2 * py) * wc;
  const int nrows = imin(2, g->h - 2 * py);
  if (py >= g->oh) {
    __builtin_memset(r0, 0, (size_t)nrows * wc * 4);
    return;
  }
  const v4 zero = wasm_f32x4_splat(0), lane = wasm_i32x4_make(0, 1, 2, 3), ones = wasm_i32x4_splat(-1);
  v4 bad = wasm_i32x4_splat(0);
  const int dxlen = g->n * g->h * wc;
  for (int px = 0; px < g->ow; px++) {
    const int i0 = (b * g->h + 2 * py) * wc + 2 * px * c, o = ((b * g->oh + py) * g->ow + px) * c;
    const int cell[4] = {i0, i0 + c, i0 + wc, i0 + wc + c};
    for (int ci = 0; ci < c; ci += 4) {
      const v4 pass = C->relu_of ? wasm_f32x4_gt(wasm_v128_load(C->relu_of + o + ci), zero) : ones;
      const v4 d = wasm_v128_and(wasm_v128_load(C->dy + o + ci), pass), w = wasm_v128_load(C->ws + o + ci);
      v4 hit = wasm_i32x4_splat(0);
      for (int q = 0; q < 4; q++) {
        const v4 m = wasm_i32x4_eq(w, wasm_i32x4_add(wasm_i32x4_splat(cell[q] + ci), lane));
        hit = wasm_v128_or(hit, m);
        wasm_v128_store(C->dx + cell[q] + ci, wasm_f32x4_add(zero, wasm_v128_and(d, m)));  // 0 + dy, as the scatter
      }
      // a winner elsewhere that the scatter would add somewhere
      const v4 inr = wasm_v128_and(wasm_i32x4_ge(w, wasm_i32x4_splat(0)), wasm_i32x4_lt(w, wasm_i32x4_splat(dxlen)));
      bad = wasm_v128_or(bad, wasm_v128_andnot(wasm_v128_and(pass, inr), hit));
    }
  }
  if (2 * g->ow < g->w)  // the column no window covers
    for (int r = 0; r < nrows; r++) __builtin_memset(r0 + r * wc + 2 * g->ow * c, 0, (size_t)(g->w - 2 * g->ow) * c * 4);
  if (wasm_v128_any_true(bad)) __atomic_store_n(&C->foreign, 1, __ATOMIC_SEQ_CST);
}

EXPORT(maxpool2d_forward) void maxpool2d_forward(const float* x, float* y, int32_t* ws) {
  pool_geom g = pool_params();
  maxpool_forward_impl(&g, x, y, ws);
}

/** dx (dxlen floats) = 0, then dx[ws[i]] += dy[i] for i < len (only where relu_of[i] > 0, when given). */
EXPORT(maxpool2d_backward) void maxpool2d_backward(int len, const float* dy, const int32_t* ws, float* dx, int dxlen, const float* relu_of) {
  const pool_geom g = pool_params();
  if (pool_2x2(&g) && len == g.n * g.oh * g.ow * g.c && dxlen == g.n * g.h * g.w * g.c) {
    pool_bwd_ctx C = {g, dy, relu_of, ws, dx, 0};
    parallel_for(g.n * ceil_div(g.h, 2), maxpool_2x2_bwd_rows, &C);
    if (!C.foreign) return;
  }
  __builtin_memset(dx, 0, (size_t)dxlen * 4);
  if (relu_of) {
    for (int i = 0; i < len; i++)
      if (relu_of[i] > 0 && ws[i] >= 0 && ws[i] < dxlen) dx[ws[i]] += dy[i];
  } else {
    for (int i = 0; i < len; i++)
      if (ws[i] >= 0 && ws[i] < dxlen) dx[ws[i]] += dy[i];
  }
}

// Average pooling: the mean over the window's cells inside the input (padding not counted).
static void avgpool_row(void* vc, int row, int tid) {
  (void)tid;
  const pool_ctx* C = vc;
  const pool_geom* g = &C->g;
  const int c = g->c, b = row / g->oh, oy = row - b * g->oh;
  const int ya = imax(oy * g->sh - g->pt, 0), yb = imin(oy * g->sh - g->pt + g->ph, g->h);
  for (int ox = 0; ox < g->ow; ox++) {
    const int xa = imax(ox * g->sw - g->pl, 0), xb = imin(ox * g->sw - g->pl + g->pw, g->w);
    const float count = (float)(imax(yb - ya, 0) * imax(xb - xa, 0));
    const v4 cnt = wasm_f32x4_splat(count);
    float* out = C->y + ((b * g->oh + oy) * g->ow + ox) * c;
    int ci = 0;
    for (; ci + 4 <= c; ci += 4) {
      v4 s = wasm_f32x4_splat(0);
      for (int iy = ya; iy < yb; iy++)
        for (int ix = xa; ix < xb; ix++) s = wasm_f32x4_add(s, wasm_f32x4_div(wasm_v128_load(C->x + ((b * g->h + iy) * g->w + ix) * c + ci), cnt));
      wasm_v128_store(out + ci, s);
    }
    for (; ci < c; ci++) {
      float s = 0;
      for (int iy = ya; iy < yb; iy++)
        for (int ix = xa; ix < xb; ix++) s += C->x[((b * g->h + iy) * g->w + ix) * c + ci] / count;
      out[ci] = s;
    }
  }
}

EXPORT(avgpool2d_forward) void avgpool2d_forward(const float* x, float* y) {
  pool_ctx C = {pool_params(), x, y, 0};
  parallel_for(C.g.n * C.g.oh, avgpool_row, &C);
}

// Backward, one image per task (its windows only touch its own pixels): dx = 0, then each dy / count
// added to the cells its window averaged, in the reference's order.
static void avgpool_back_image(void* vc, int b, int tid) {
  (void)tid;
  const pool_ctx* C = vc;  // x = dy, y = dx
  const pool_geom* g = &C->g;
  const int c = g->c;
  float* dx = C->y + (size_t)b * g->h * g->w * c;
  __builtin_memset(dx, 0, (size_t)g->h * g->w * c * 4);
  for (int oy = 0; oy < g->oh; oy++) {
    const int ya = imax(oy * g->sh - g->pt, 0), yb = imin(oy * g->sh - g->pt + g->ph, g->h);
    for (int ox = 0; ox < g->ow; ox++) {
      const int xa = imax(ox * g->sw - g->pl, 0), xb = imin(ox * g->sw - g->pl + g->pw, g->w);
      const float count = (float)(imax(yb - ya, 0) * imax(xb - xa, 0));
      const float* d = C->x + ((b * g->oh + oy) * g->ow + ox) * c;
      for (int iy = ya; iy < yb; iy++)
        for (int ix = xa; ix < xb; ix++) {
          float* o = dx + (iy * g->w + ix) * c;
          int ci = 0;
          for (; ci + 4 <= c; ci += 4)
            wasm_v128_store(o + ci, wasm_f32x4_add(wasm_v128_load(o + ci), wasm_f32x4_div(wasm_v128_load(d + ci), wasm_f32x4_splat(count))));
          for (; ci < c; ci++) o[ci] += d[ci] / count;
        }
    }
  }
}

EXPORT(avgpool2d_backward) void avgpool2d_backward(const float* dy, float* dx) {
  pool_ctx C = {pool_params(), dy, dx, 0};
  parallel_for(C.g.n, avgpool_back_image, &C);
}
