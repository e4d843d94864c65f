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

void maxpool_forward_impl(const pool_geom* g, const float* x, float* y, int32_t* ws) {
  pool_ctx C = {*g, x, y, ws};
  parallel_for(g->n * g->oh, maxpool_row, &C);
}

EXPORT(maxpool2d_forward) void maxpool2d_forward(const float* x, float* y, int32_t* ws) {
  pool_geom g = pool_params();
  maxpool_forward_impl(&g, x, y, ws);
}

/** dx (dxlen floats) = 0, then dx[ws[i]] += dy[i] for i < len (only where relu_of[i] > 0, when given). */
EXPORT(maxpool2d_backward) void maxpool2d_backward(int len, const float* dy, const int32_t* ws, float* dx, int dxlen, const float* relu_of) {
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
