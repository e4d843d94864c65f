// Winograd convolutions (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2015) for
// stride-1 square 3x3 and 5x5 kernels: F(4x4, 3x3) and F(2x2, 5x5), both on 6x6 tiles with the points
// 0, 1, -1, 2, -2 and infinity, so they share one data transform B^T. An output tile of m x m pixels
// costs 36 products per (input channel, filter) instead of m²·r² (144 or 100): 4x and 2.8x fewer.
// On 128-bit SIMD the direct convolution already runs at the multiply ports' limit, so fewer products
// is the one way left to go faster. Rounding differs from the direct sum by 2e-6 to 1e-5 of the
// output's scale in the twin tests (their tolerance: 1e-4).
//
// Forward: per block of tiles, (1) the 6x6 input patches are transformed into V[ξ][tile][c],
// (2) 36 GEMMs M[ξ] = V[ξ] · U[ξ] on the 4x8 micro-kernel, U[ξ][c][f] the transformed kernel,
// (3) M's tiles are transformed back to m x m outputs (+ bias, ReLU). Backward data is the same
// computation on dy with the kernel flipped and its channels swapped. Backward weights runs F(r x r,
// m x m): x's patches and dy's tiles are transformed, M[ξ][c][f] = Σ_tiles V[ξ][t][c] · D[ξ][t][f],
// and M goes back to r x r once at the end. Every output is computed by one thread in a fixed order
// (the weight gradient sums fixed slots of tiles in slot order), so results do not depend on the
// thread count.
#include "gemm.h"

#define ADD wasm_f32x4_add
#define SUB wasm_f32x4_sub
#define MUL(v, s) wasm_f32x4_mul(v, wasm_f32x4_splat(s))

/** B^T on six vectors d[k·s]: o[j·os] = Σ_k BT[j][k] d[k]. */
INLINE void bt6(const v4* d, int s, v4* o, int os) {
  const v4 d0 = d[0], d1 = d[s], d2 = d[2 * s], d3 = d[3 * s], d4 = d[4 * s], d5 = d[5 * s];
  const v4 d4m2 = SUB(d4, d2);
  o[0] = ADD(SUB(MUL(d0, 4.f), MUL(d2, 5.f)), d4);
  o[os] = SUB(ADD(d3, d4), MUL(ADD(d1, d2), 4.f));
  o[2 * os] = ADD(SUB(d4, d3), MUL(SUB(d1, d2), 4.f));
  o[3 * os] = ADD(d4m2, MUL(SUB(d3, d1), 2.f));
  o[4 * os] = ADD(d4m2, MUL(SUB(d1, d3), 2.f));
  o[5 * os] = ADD(SUB(MUL(d1, 4.f), MUL(d3, 5.f)), d5);
}

/** G on an r-tap kernel line g[k·s] (r <= 5): o[j·os] = Σ_k G[j][k] g[k], G[j][k] = scale_j · p_j^k. */
INLINE void g6(const v4* g, int r, int s, v4* o, int os) {
  v4 e = wasm_f32x4_splat(0), od = e, e2 = e, o2 = e;
  float pw = 1;
  for (int k = 0; k < r; k++, pw *= 2) {
    const v4 v = g[k * s];
    if (k & 1) {
      od = ADD(od, v);
      o2 = ADD(o2, MUL(v, pw));
    } else {
      e = ADD(e, v);
      e2 = ADD(e2, MUL(v, pw));
    }
  }
  o[0] = MUL(g[0], 0.25f);
  o[os] = MUL(ADD(e, od), -1.f / 6);
  o[2 * os] = MUL(SUB(e, od), -1.f / 6);
  o[3 * os] = MUL(ADD(e2, o2), 1.f / 24);
  o[4 * os] = MUL(SUB(e2, o2), 1.f / 24);
  o[5 * os] = g[(r - 1) * s];
}

/** A^T, m <= 5 outputs from six: o[i·os] = [i = 0] d0 + d1 + (-1)^i d2 + 2^i d3 + (-2)^i d4 + [i = m-1] d5. */
INLINE void at6(const v4* d, int s, v4* o, int os, int m) {
  const v4 a = ADD(d[s], d[2 * s]), b = SUB(d[s], d[2 * s]), c = ADD(d[3 * s], d[4 * s]), e = SUB(d[3 * s], d[4 * s]);
  float pw = 1;
  for (int i = 0; i < m; i++, pw *= 2) {
    v4 v = i & 1 ? ADD(b, MUL(e, pw)) : ADD(a, MUL(c, pw));
    if (i == 0) v = ADD(v, d[0]);
    if (i == m - 1) v = ADD(v, d[5 * s]);
    o[i * os] = v;
  }
}

// Where Winograd pays, measured against the direct kernels (`node dist/bench/wasm-conv.js` prints the A/B per
// shape; P[P_DIRECT] = 1 turns Winograd off), 2 threads: 1.3-1.6x forward and
// backward data, 1.7-2.3x backward weights on same-padded 7x7 to 28x28 maps and valid 13x13 and 12x12;
// a loss where the m x m tiles overhang the map (valid 7→5: 0.88x, 5→3: 0.75x) and for the backward
// data of valid convolutions (0.26-1.1x: the direct kernel skips dy's zero border, Winograd computes it).
// The weight gradient wins on every shape measured (valid 5→3: 1.08x, 7→5: 1.22x, 11→9: 1.69x).
// Wide layers win up to 256 channels in and out (1.5-2.3x) and lose beyond (512→512 on 7x7: backward
// 0.6-0.7x), where a block holds 4 tiles and U (36·c·f floats) no longer sits in L2; the weight
// gradient's 8 slots of 36·c·f floats would also take 300 MB there.
static int wino_shape(const conv_geom* g, int oh, int ow, int fill_tenths) {
  if (P[P_DIRECT] || !(g->kh == g->kw && (g->kh == 3 || g->kh == 5) && g->sh == 1 && g->sw == 1 && g->c % 4 == 0 && g->f % 4 == 0 &&
        g->c >= 16 && g->f >= 16 && g->c + g->f <= 512 && g->pt < g->kh && g->pl < g->kw))
    return 0;
  const int m = g->kh == 3 ? 4 : 2, covered = ceil_div(oh, m) * m * ceil_div(ow, m) * m;
  return 10 * oh * ow >= fill_tenths * covered;  // the share of the tiles' outputs that are real
}

/** Forward: the shapes above (wino_shape), with at least 70% of the tiles inside the output. */
int wino_applies(const conv_geom* g) { return wino_shape(g, g->oh, g->ow, 7); }

/** Backward data: as the forward, on dx, and only for 'same' padding, where dy has no zero border to skip. */
int wino_applies_data(const conv_geom* g) {
  return wino_shape(g, g->h, g->w, 7) && 2 * g->pt == g->kh - 1 && 2 * g->pl == g->kw - 1;
}

/** Weight gradient: any such convolution. */
int wino_applies_weights(const conv_geom* g) { return wino_shape(g, g->oh, g->ow, 0); }

// ---- the kernel's transform --------------------------------------------------------------------

typedef struct {
  const float* w;  // HWIO r x r x c x f
  float* U;        // forward: 36 x c x f; flipped: 36 x f x c
  int r, c, f, flip;
} wt_ctx;

// one input channel ci of w: U[ξ][ci][fo] = (G g G^T)[ξ], g[ky][kx] = w[ky][kx][ci][fo]; flipped (the
// backward data's kernel: channels swapped, taps reversed) U[ξ][fo][ci] from g[ky][kx] = w[r-1-ky][r-1-kx][ci][fo]
static void wt_task(void* vc, int ci, int tid) {
  const wt_ctx* C = vc;
  const int r = C->r, c = C->c, f = C->f;
  for (int fo = 0; fo < f; fo += 4) {
    v4 gg[25], t[30], u[36];
    for (int ky = 0; ky < r; ky++)
      for (int kx = 0; kx < r; kx++) {
        const int tap = C->flip ? (r - 1 - ky) * r + r - 1 - kx : ky * r + kx;
        gg[ky * r + kx] = wasm_v128_load(C->w + ((size_t)tap * c + ci) * f + fo);
      }
    for (int kx = 0; kx < r; kx++) g6(gg + kx, r, r, t + kx, r);  // t[j][kx] = Σ_ky G[j][ky] g[ky][kx]
    for (int j = 0; j < 6; j++) g6(t + j * r, r, 1, u + j * 6, 1);
    if (!C->flip) {
      for (int k = 0; k < 36; k++) wasm_v128_store(C->U + ((size_t)k * c + ci) * f + fo, u[k]);
    } else {
      for (int k = 0; k < 36; k++) {
        float l[4];
        wasm_v128_store(l, u[k]);
        for (int e = 0; e < 4; e++) C->U[((size_t)k * f + fo + e) * c + ci] = l[e];
      }
    }
  }
}

static float* transform_kernel(const float* w, int r, int c, int f, int flip) {
  wt_ctx C = {w, scratch((size_t)36 * c * f * 4), r, c, f, flip};
  parallel_for(c, wt_task, &C);
  return C.U;
}

// ---- input patches and output tiles ------------------------------------------------------------

typedef struct {
  conv_geom g;  // as computed: x n x h x w x c → y n x oh x ow x f, stride 1, kernel r x r
  const float *x, *U, *b;
  float* y;
  int relu, m, th, tw, tiles, tb;
  char* ts;
  int tstride;
} wfwd_ctx;

/** Tile t's image and top-left output pixel. */
INLINE void tile_at(int t, int th, int tw, int m, int* b, int* oy, int* ox) {
  *b = t / (th * tw);
  const int rem = t - *b * th * tw, ty = rem / tw;
  *oy = ty * m;
  *ox = (rem - ty * tw) * m;
}

/** V[ξ][i][ci..ci+4) = (B^T d B)[ξ] for the 6x6 patch of c channels at (b, y0, x0) of x (zeros outside). */
static void input_transform(const float* x, int h, int w, int c, int b, int y0, int x0, float* V, int vstride) {
  const v4 zero = wasm_f32x4_splat(0);
  const int inside = y0 >= 0 && x0 >= 0 && y0 + 6 <= h && x0 + 6 <= w;
  for (int ci = 0; ci < c; ci += 4) {
    v4 e[36];  // e[j·6 + u]: row u transformed along x (a row's six pixels in registers at a time)
    for (int u = 0; u < 6; u++) {
      const int iy = y0 + u;
      v4 d[6];
      if (inside) {
        const float* p = x + ((b * h + iy) * w + x0) * c + ci;
        for (int v = 0; v < 6; v++) d[v] = wasm_v128_load(p + v * c);
      } else {
        for (int v = 0; v < 6; v++) {
          const int ix = x0 + v;
          d[v] = iy >= 0 && iy < h && ix >= 0 && ix < w ? wasm_v128_load(x + ((b * h + iy) * w + ix) * c + ci) : zero;
        }
      }
      bt6(d, 1, e + u, 6);
    }
    for (int j = 0; j < 6; j++) {  // then along y, straight into V
      v4 o[6];
      bt6(e + j * 6, 1, o, 1);
      for (int i = 0; i < 6; i++) wasm_v128_store(V + (size_t)(i * 6 + j) * vstride + ci, o[i]);
    }
  }
}

/** Tile t's m x m outputs from its 36 rows of M (Mi[ξ·ms + f]): A^T M A (+ bias, ReLU), the tile's part inside y. */
INLINE void output_tile(const wfwd_ctx* C, const float* Mi, int ms, int t, const int m) {
  const conv_geom* g = &C->g;
  const int f = g->f;
  int b, oy, ox;
  tile_at(t, C->th, C->tw, m, &b, &oy, &ox);
  const int mh = imin(m, g->oh - oy), mw = imin(m, g->ow - ox);
  const v4 zero = wasm_f32x4_splat(0);
  for (int fo = 0; fo < f; fo += 4) {
    v4 e[24];  // e[j·6 + u]: row u of M transformed along x (six values in registers at a time)
    for (int u = 0; u < 6; u++) {
      v4 d[6];
      for (int v = 0; v < 6; v++) d[v] = wasm_v128_load(Mi + (size_t)(u * 6 + v) * ms + fo);
      at6(d, 1, e + u, 6, m);
    }
    const v4 bias = C->b ? wasm_v128_load(C->b + fo) : zero;
    for (int j = 0; j < mw; j++) {  // then along y, straight into y
      v4 o[5];
      at6(e + j * 6, 1, o, 1, m);
      for (int u = 0; u < mh; u++) {
        v4 val = ADD(o[u], bias);
        if (C->relu) val = wasm_f32x4_pmax(val, zero);  // the reference's `if (y < 0) y = 0`
        wasm_v128_store(C->y + ((size_t)(b * g->oh + oy + u) * g->ow + ox + j) * f + fo, val);
      }
    }
  }
}

static void wfwd_task(void* vc, int blk, int tid) {
  const wfwd_ctx* C = vc;
  const conv_geom* g = &C->g;
  const int c = g->c, f = g->f, m = C->m, tb = C->tb, panels = ceil_div(f, 8);
  const int t0 = blk * tb, nt = imin(tb, C->tiles - t0);
  float* tmp = (float*)(C->ts + (size_t)tid * C->tstride);
  // V[ξ] and M[ξ] one cache line further apart than tb rows: at a multiple of 4 KiB, the 36 stores of
  // one patch (and the 36 loads of one tile) would all fall in one L1 set
  const int vs = tb * c + 16, ms = tb * f + 16;
  float* V = tmp + 32;               // 36 x vs
  float* M = V + (size_t)36 * vs;    // 36 x ms
  for (int i = 0; i < nt; i++) {
    int b, oy, ox;
    tile_at(t0 + i, C->th, C->tw, m, &b, &oy, &ox);
    input_transform(C->x, g->h, g->w, c, b, oy - g->pt, ox - g->pl, V + i * c, vs);
  }
  for (int k = 0; k < 36; k++) {
    const float* Vk = V + (size_t)k * vs;
    float* Mk = M + (size_t)k * ms;
    for (int i0 = 0; i0 < nt; i0 += 4) {
      const int rows = imin(4, nt - i0);
      seg_t s = {{0}, C->U + (size_t)k * c * f, c};
      for (int r = 0; r < 4; r++) s.a[r] = Vk + (i0 + imin(r, rows - 1)) * c;
      for (int p = 0; p < panels; p++) {
        float* cp[4];
        for (int r = 0; r < 4; r++) cp[r] = Mk + (i0 + imin(r, rows - 1)) * f + p * 8;
        tile_store(&s, 1, p * 8, f, 0, cp, rows, imin(8, f - p * 8), 0, 0, tmp);
      }
    }
  }
  for (int i = 0; i < nt; i++) {
    if (m == 2) output_tile(C, M + i * f, ms, t0 + i, 2);
    else output_tile(C, M + i * f, ms, t0 + i, 4);
  }
}

static void wino_run(const conv_geom* g, const float* x, const float* U, const float* b, float* y, int relu) {
  wfwd_ctx C = {*g, x, U, b, y, relu};
  C.m = g->kh == 3 ? 4 : 2;
  C.th = ceil_div(g->oh, C.m);
  C.tw = ceil_div(g->ow, C.m);
  C.tiles = g->n * C.th * C.tw;
  // a block's V and M: about 288 KiB, in L2 beside U
  C.tb = imax(4, imin(64, (2048 / (g->c + g->f)) & ~3));
  C.tstride = (int)(((32 + (size_t)36 * (C.tb * (g->c + g->f) + 32)) * 4 + 64) & ~(size_t)63);
  C.ts = scratch((size_t)C.tstride * threads());
  parallel_for(ceil_div(C.tiles, C.tb), wfwd_task, &C);
}

void wino_forward(const conv_geom* g, const float* x, const float* w, const float* b, float* y, int relu) {
  wino_run(g, x, transform_kernel(w, g->kh, g->c, g->f, 0), b, y, relu);
}

/** dx = the correlation of dy (zero-padded by r-1-pad) with the kernel flipped and its channels swapped. */
void wino_backward_data(const conv_geom* g, const float* dy, const float* w, float* dx) {
  const conv_geom t = {g->n, g->oh, g->ow, g->f, g->c, g->h, g->w, g->kh, g->kw, 1, 1, g->kh - 1 - g->pt, g->kw - 1 - g->pl};
  wino_run(&t, dy, transform_kernel(w, g->kh, g->c, g->f, 1), 0, dx, 0);
}

// ---- backward weights: F(r x r, m x m) -------------------------------------------------------------

#define WSLOTS 8

typedef struct {
  conv_geom g;
  const float *x, *dy;
  float* part;  // WSLOTS x (36 x c x f + f): each slot's M and bias gradient
  float *dw, *db;
  int m, th, tw, tiles, tb, slots;
  char* ts;
  int tstride;
} wbw_ctx;

/** D[ξ][i][fo..fo+4) = (G g G^T)[ξ] for dy's m x m tile at (b, oy, ox) (zeros outside); adds the tile's dy to db. */
static void dy_transform(const conv_geom* g, const float* dy, int m, int b, int oy, int ox, float* D, int dstride, v4* db) {
  const int f = g->f, mh = imin(m, g->oh - oy), mw = imin(m, g->ow - ox);
  const v4 zero = wasm_f32x4_splat(0);
  for (int fo = 0; fo < f; fo += 4) {
    v4 d[16], t[24], u[36], s = db[fo / 4];
    for (int i = 0; i < m; i++)
      for (int j = 0; j < m; j++) {
        const v4 v = i < mh && j < mw ? wasm_v128_load(dy + ((size_t)(b * g->oh + oy + i) * g->ow + ox + j) * f + fo) : zero;
        d[i * m + j] = v;
        s = ADD(s, v);
      }
    db[fo / 4] = s;
    for (int j = 0; j < m; j++) g6(d + j, m, m, t + j, m);  // t[ξ1][j] = Σ_i G[ξ1][i] d[i][j]
    for (int k = 0; k < 6; k++) g6(t + k * m, m, 1, u + k * 6, 1);
    for (int k = 0; k < 36; k++) wasm_v128_store(D + (size_t)k * dstride + fo, u[k]);
  }
}

static void wbw_task(void* vc, int slot, int tid) {
  const wbw_ctx* C = vc;
  const conv_geom* g = &C->g;
  const int c = g->c, f = g->f, m = C->m, tb = C->tb, panels = ceil_div(f, 8);
  const int vs = tb * c + 16, ds = tb * f + 16;  // one cache line past tb rows, as in the forward
  float* tmp = (float*)(C->ts + (size_t)tid * C->tstride);
  float* V = tmp + 32;             // 36 x vs
  float* D = V + (size_t)36 * vs;  // 36 x ds
  v4* db = (v4*)(D + (size_t)36 * ds);
  float* M = C->part + (size_t)slot * (36 * c * f + f);
  for (int j = 0; j < f / 4; j++) db[j] = wasm_f32x4_splat(0);
  const int s0 = (int)((int64_t)C->tiles * slot / C->slots), s1 = (int)((int64_t)C->tiles * (slot + 1) / C->slots);
  for (int t0 = s0; t0 < s1; t0 += tb) {
    const int nt = imin(tb, s1 - t0), first = t0 == s0;
    for (int i = 0; i < nt; i++) {
      int b, oy, ox;
      tile_at(t0 + i, C->th, C->tw, m, &b, &oy, &ox);
      input_transform(C->x, g->h, g->w, c, b, oy - g->pt, ox - g->pl, V + i * c, vs);
      dy_transform(g, C->dy, m, b, oy, ox, D + i * f, ds, db);
    }
    for (int k = 0; k < 36; k++) {  // M[ξ] (c x f) += V[ξ]^T (c x nt) · D[ξ] (nt x f)
      const float* Vk = V + (size_t)k * vs;
      float* Mk = M + (size_t)k * c * f;
      for (int c0 = 0; c0 < c; c0 += 4) {
        const seg_t s = {{Vk + c0, Vk + c0 + 1, Vk + c0 + 2, Vk + c0 + 3}, D + (size_t)k * ds, nt};
        for (int p = 0; p < panels; p++) {
          float* cp[4] = {Mk + c0 * f + p * 8, Mk + (c0 + 1) * f + p * 8, Mk + (c0 + 2) * f + p * 8, Mk + (c0 + 3) * f + p * 8};
          tile_store_strided(&s, 1, p * 8, c, f, cp, 4, imin(8, f - p * 8), !first, tmp);
        }
      }
    }
  }
  for (int j = 0; j < f / 4; j++) wasm_v128_store(M + 36 * c * f + 4 * j, db[j]);
}

// the slots' M added in slot order, then dW = A^T M A for input channel ci
static void wbw_out_task(void* vc, int ci, int tid) {
  const wbw_ctx* C = vc;
  const conv_geom* g = &C->g;
  const int c = g->c, f = g->f, r = g->kh;
  const size_t slot = (size_t)36 * c * f + f;
  for (int fo = 0; fo < f; fo += 4) {
    v4 d[36], t[30], o[25];
    for (int k = 0; k < 36; k++) {
      const float* p = C->part + ((size_t)k * c + ci) * f + fo;
      v4 v = wasm_v128_load(p);
      for (int s = 1; s < C->slots; s++) v = ADD(v, wasm_v128_load(p + s * slot));
      d[k] = v;
    }
    for (int v = 0; v < 6; v++) at6(d + v, 6, t + v, 6, r);  // t[ky][v]
    for (int u = 0; u < r; u++) at6(t + u * 6, 1, o + u * r, 1, r);
    for (int k = 0; k < r * r; k++) wasm_v128_store(C->dw + ((size_t)k * c + ci) * f + fo, o[k]);
  }
}

void wino_backward_weights(const conv_geom* g, const float* x, const float* dy, float* dw, float* db) {
  wbw_ctx C = {*g, x, dy, 0, dw, db};
  C.m = g->kh == 3 ? 4 : 2;
  C.th = ceil_div(g->oh, C.m);
  C.tw = ceil_div(g->ow, C.m);
  C.tiles = g->n * C.th * C.tw;
  C.tb = imax(4, imin(64, (2048 / (g->c + g->f)) & ~3));
  // fixed slots of tiles (not one per thread), so that the sums' order does not depend on the thread count
  C.slots = imax(1, imin(WSLOTS, ceil_div(C.tiles, C.tb)));
  C.part = scratch((size_t)C.slots * (36 * g->c * g->f + g->f) * 4);
  C.tstride = (int)(((32 + (size_t)36 * (C.tb * (g->c + g->f) + 32) + g->f) * 4 + 64) & ~(size_t)63);
  C.ts = scratch((size_t)C.tstride * threads());
  parallel_for(C.slots, wbw_task, &C);
  parallel_for(g->c, wbw_out_task, &C);
  if (db) sum_slots(C.part + 36 * g->c * g->f, C.slots, (size_t)36 * g->c * g->f + g->f, g->f, db);
}
