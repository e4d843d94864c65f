// Convolutions (NHWC activations, HWIO kernels) as implicit GEMMs on the 4x8 micro-kernel:
// - forward: rows = output pixels, k = (ky, kx, ci), columns = filters; an output pixel's im2col row
//   is read in place as one run per kernel tap (the padding's taps point at a zero run), or one run
//   per kernel row when the row's taps are contiguous in memory (stride 1, away from the edges);
//   with 'same' padding on small images a tile is one pixel in four images, so no padding tap is computed;
// - backward data: rows = input pixels, k = (ky, kx, filter), columns = input channels, reading dy
//   in place the same way against the kernel transposed (packed once per call); with strides, input
//   pixels are grouped by phase (ix mod sw) so a tile's four pixels share their valid taps;
//   images narrower than 32 take tiles of one pixel position in four images, which share them too;
// - backward weights: rows = k, columns = filters, summed over output pixels in blocks of output
//   rows, x read in place at a pixel stride (or from a zero-padded copy when c % 4 != 0), dy in place.
// Every output element is computed by one thread in a fixed order, so results do not depend on the
// thread count.
#include "gemm.h"

int wino_applies(const conv_geom* g);
int wino_applies_data(const conv_geom* g);
int wino_applies_weights(const conv_geom* g);
void wino_forward(const conv_geom* g, const float* x, const float* w, const float* b, float* y, int relu);
void wino_backward_data(const conv_geom* g, const float* dy, const float* w, float* dx);
void wino_backward_weights(const conv_geom* g, const float* x, const float* dy, float* dw, float* db);

// The input with its padding made explicit: hp x wp pixels of c channels per image, zeros outside x
// (hp and wp cover every tap of every output pixel).
static float* pad_input(const conv_geom* g, const float* x, int hp, int wp) {
  const int c = g->c, rowlen = wp * c;
  float* xp = scratch((size_t)g->n * hp * rowlen * 4 + 64);
  for (int b = 0; b < g->n; b++)
    for (int yy = 0; yy < hp; yy++) {
      float* d = xp + ((size_t)b * hp + yy) * rowlen;
      const int iy = yy - g->pt;
      if (iy < 0 || iy >= g->h) {
        __builtin_memset(d, 0, (size_t)rowlen * 4);
        continue;
      }
      const float* src = x + (b * g->h + iy) * g->w * c;
      for (int xx = 0; xx < wp; xx++) {
        const int ix = xx - g->pl;
        for (int ci = 0; ci < c; ci++) d[xx * c + ci] = ix >= 0 && ix < g->w ? src[ix * c + ci] : 0;
      }
    }
  return xp;
}

// ---- forward -----------------------------------------------------------------------------------

typedef struct {
  conv_geom g;
  const float *x, *w, *b;
  float* y;
  const float* zero;
  int relu, M, N, K, panels, tiles, per_chunk, explicit_cols, kp, batch;
  char* ts;
  int tstride;
} fwd_ctx;

static void fwd_task(void* vc, int chunk, int tid) {
  const fwd_ctx* C = vc;
  const conv_geom* g = &C->g;
  const int c = g->c, W = g->w, N = C->N, kw = g->kw;
  char* ts = C->ts + tid * C->tstride;
  float* tmp = (float*)ts;
  float* col = tmp + 32;
  seg_t* segs = (seg_t*)(col + 4 * C->kp);
  const int t0 = chunk * C->per_chunk, t1 = imin(t0 + C->per_chunk, C->tiles);
  const int npos = g->oh * g->ow;
  for (int t = t0; t < t1; t++) {
    int bb[4], oy[4], ox[4], mm[4], rows;
    if (C->batch) {  // one output pixel in four images: they share their valid taps
      const int g4 = t / npos, pos = t - g4 * npos;
      rows = imin(4, g->n - 4 * g4);
      for (int r = 0; r < 4; r++) {
        bb[r] = 4 * g4 + imin(r, rows - 1);
        oy[r] = pos / g->ow;
        ox[r] = pos - oy[r] * g->ow;
        mm[r] = bb[r] * npos + pos;
      }
    } else {
      const int m0 = t * 4;
      rows = imin(4, C->M - m0);
      for (int r = 0; r < 4; r++) {
        const int m = m0 + imin(r, rows - 1);
        bb[r] = m / npos;
        const int rem = m - bb[r] * npos;
        oy[r] = rem / g->ow;
        ox[r] = rem - oy[r] * g->ow;
        mm[r] = m;
      }
    }
    int nseg = 0;
    if (C->explicit_cols) {  // few channels: gather the four im2col rows, one segment of length K
      for (int r = 0; r < 4; r++) {
        float* dst = col + r * C->kp;
        for (int ky = 0; ky < g->kh; ky++) {
          int iy = oy[r] * g->sh + ky - g->pt;
          for (int kx = 0; kx < kw; kx++) {
            int ix = ox[r] * g->sw + kx - g->pl;
            if (iy < 0 || iy >= g->h || ix < 0 || ix >= W) {
              for (int ci = 0; ci < c; ci++) *dst++ = 0;
            } else {
              const float* src = C->x + ((bb[r] * g->h + iy) * W + ix) * c;
              for (int ci = 0; ci < c; ci++) *dst++ = src[ci];
            }
          }
        }
      }
      segs[0] = (seg_t){{col, col + C->kp, col + 2 * C->kp, col + 3 * C->kp}, C->w, C->K};
      nseg = 1;
    } else {
      for (int ky = 0; ky < g->kh; ky++) {
        int iy[4], rowok = 0, full = g->sw == 1;
        for (int r = 0; r < 4; r++) {
          iy[r] = oy[r] * g->sh + ky - g->pt;
          int ok = iy[r] >= 0 && iy[r] < g->h;
          rowok |= ok;
          int ix0 = ox[r] - g->pl;
          full &= ok && ix0 >= 0 && ix0 + kw <= W;
        }
        if (!rowok) continue;
        if (full) {  // the kernel row's taps are one contiguous run of kw·c floats
          seg_t* s = &segs[nseg++];
          for (int r = 0; r < 4; r++) s->a[r] = C->x + ((bb[r] * g->h + iy[r]) * W + ox[r] - g->pl) * c;
          s->b = C->w + ky * kw * c * N;
          s->len = kw * c;
          continue;
        }
        for (int kx = 0; kx < kw; kx++) {
          seg_t* s = &segs[nseg];
          int any = 0;
          for (int r = 0; r < 4; r++) {
            int ix = ox[r] * g->sw + kx - g->pl;
            int ok = iy[r] >= 0 && iy[r] < g->h && ix >= 0 && ix < W;
            s->a[r] = ok ? C->x + ((bb[r] * g->h + iy[r]) * W + ix) * c : C->zero;
            any |= ok;
          }
          if (!any) continue;
          s->b = C->w + (ky * kw + kx) * c * N;
          s->len = c;
          nseg++;
        }
      }
    }
    for (int p = 0; p < C->panels; p++) {
      float* cp[4];
      for (int r = 0; r < 4; r++) cp[r] = C->y + mm[r] * N + p * 8;
      tile_store(segs, nseg, p * 8, N, C->b ? C->b + p * 8 : 0, cp, rows, imin(8, N - p * 8), 0, C->relu, tmp);
    }
  }
}

void conv_forward_impl(const conv_geom* g, const float* x, const float* w, const float* b, float* y, int relu) {
  if (wino_applies(g)) {
    wino_forward(g, x, w, b, y, relu);
    return;
  }
  fwd_ctx C = {*g, x, w, b, y, 0, relu};
  C.M = g->n * g->oh * g->ow;
  C.N = g->f;
  C.K = g->kh * g->kw * g->c;
  C.panels = ceil_div(C.N, 8);
  // 'same' padding on small images: tiles of one pixel in four images, no tap computed on padding
  C.batch = g->w < 32 && g->n >= 8 && (g->pt > 0 || g->pl > 0);
  C.tiles = C.batch ? ceil_div(g->n, 4) * g->oh * g->ow : ceil_div(C.M, 4);
  C.explicit_cols = g->c < 4 && g->sw != 1;
  C.kp = C.explicit_cols ? (C.K + 3) & ~3 : 0;
  C.zero = scratch_zero((size_t)(g->c + 8) * 4);
  C.tstride = (int)((32 + 4 * C.kp) * 4 + g->kh * g->kw * sizeof(seg_t) + 64) & ~63;
  C.ts = scratch((size_t)C.tstride * threads());
  // about 16 chunks per thread, at least 2 tiles each
  C.per_chunk = imax(2, C.tiles / (16 * threads()));
  parallel_for(ceil_div(C.tiles, C.per_chunk), fwd_task, &C);
}

static int c1_applies(const conv_geom* g);
static void c1_forward(const conv_geom* g, const float* x, const float* w, const float* b, float* y, int relu);

EXPORT(conv2d_forward) void conv2d_forward(const float* x, const float* w, const float* b, float* y, int relu) {
  conv_geom g = conv_params();
  if (c1_applies(&g)) {
    c1_forward(&g, x, w, b, y, relu);
    return;
  }
  conv_forward_impl(&g, x, w, b, y, relu);
}

// ---- backward data -----------------------------------------------------------------------------

typedef struct {
  conv_geom g;
  const float *dy, *w;
  float *wt, *dx;
  const float* zero;
  int panels, per_chunk;
  char* ts;
  int tstride;
} bwd_data_ctx;

// wt[q][ky][kw-1-kx][j][e] = w[ky][kx][8q+e][j]: the kernel transposed, kx reversed so that a kernel
// row's taps read dy's pixels in increasing order
static void pack_wt_task(void* vc, int q, int tid) {
  (void)tid;
  const bwd_data_ctx* C = vc;
  const conv_geom* g = &C->g;
  const int c = g->c, f = g->f;
  float* dst = C->wt + (size_t)q * g->kh * g->kw * f * 8;
  for (int ky = 0; ky < g->kh; ky++)
    for (int kxr = 0; kxr < g->kw; kxr++) {
      const int kx = g->kw - 1 - kxr;
      const float* src = C->w + (ky * g->kw + kx) * c * f;
      for (int j = 0; j < f; j++, dst += 8)
        for (int e = 0; e < 8; e++) {
          int ci = q * 8 + e;
          dst[e] = ci < c ? src[ci * f + j] : 0;
        }
    }
}

// Segments of one tile of four input pixels (b[r], iy[r], ix[r]) for backward data; returns the count.
static int bwd_data_segs(const bwd_data_ctx* C, const int* bb, const int* iy, const int* ix, seg_t* segs) {
  const conv_geom* g = &C->g;
  const int f = g->f, kw = g->kw, sw = g->sw;
  int nseg = 0;
  for (int ky = 0; ky < g->kh; ky++) {
    const float* dyrow[4];
    int any = 0, full = sw == 1;
    for (int r = 0; r < 4; r++) {
      const int oyn = iy[r] + g->pt - ky, oy = oyn / g->sh;
      const int ok = oyn >= 0 && oyn % g->sh == 0 && oy < g->oh;
      dyrow[r] = ok ? C->dy + (bb[r] * g->oh + oy) * g->ow * f : 0;
      any |= ok;
      full &= ok && ix[r] + g->pl - (kw - 1) >= 0 && ix[r] + g->pl < g->ow;
    }
    if (!any) continue;
    if (full) {  // stride 1 away from the edges: the kernel row's taps read one run of kw·f floats
      seg_t* s = &segs[nseg++];
      for (int r = 0; r < 4; r++) s->a[r] = dyrow[r] + (ix[r] + g->pl - (kw - 1)) * f;
      s->b = C->wt + ky * kw * f * 8;
      s->len = kw * f;
      continue;
    }
    for (int kx = 0; kx < kw; kx++) {
      seg_t* s = &segs[nseg];
      int use = 0;
      for (int r = 0; r < 4; r++) {
        const int oxn = ix[r] + g->pl - kx;
        const int ok = dyrow[r] && oxn >= 0 && oxn % sw == 0 && oxn / sw < g->ow;
        s->a[r] = ok ? dyrow[r] + (oxn / sw) * f : C->zero;
        use |= ok;
      }
      if (!use) continue;
      s->b = C->wt + (ky * kw + kw - 1 - kx) * f * 8;
      s->len = f;
      nseg++;
    }
  }
  return nseg;
}

static void bwd_data_store(const bwd_data_ctx* C, const seg_t* segs, int nseg, float* const* px, int rows, float* tmp) {
  const conv_geom* g = &C->g;
  const int qstride = g->kh * g->kw * g->f * 8;
  for (int q = 0; q < C->panels; q++) {
    float* cp[4] = {px[0] + q * 8, px[1] + q * 8, px[2] + q * 8, px[3] + q * 8};
    tile_store(segs, nseg, q * qstride, 8, 0, cp, rows, imin(8, g->c - q * 8), 0, 0, tmp);
  }
}

// stride 1: tiles of four consecutive input pixels in (b, iy, ix) order, like the forward's
static void bwd_data_flat_task(void* vc, int chunk, int tid) {
  const bwd_data_ctx* C = vc;
  const conv_geom* g = &C->g;
  const int M = g->n * g->h * g->w;
  char* ts = C->ts + tid * C->tstride;
  float* tmp = (float*)ts;
  seg_t* segs = (seg_t*)(tmp + 32);
  const int t1 = imin((chunk + 1) * C->per_chunk, ceil_div(M, 4));
  for (int t = chunk * C->per_chunk; t < t1; t++) {
    const int m0 = 4 * t, rows = imin(4, M - m0);
    int bb[4], iy[4], ix[4];
    float* px[4];
    for (int r = 0; r < 4; r++) {
      const int m = m0 + imin(r, rows - 1);
      bb[r] = m / (g->h * g->w);
      const int rem = m - bb[r] * g->h * g->w;
      iy[r] = rem / g->w;
      ix[r] = rem - iy[r] * g->w;
      px[r] = C->dx + m * g->c;
    }
    bwd_data_store(C, segs, bwd_data_segs(C, bb, iy, ix, segs), px, rows, tmp);
  }
}

// small images: tiles of one input pixel (iy, ix) in four images, which share their valid taps (no
// tap is computed for a pixel it does not reach, as a tile across an image's edge would); one task per
// group of four images and input row
static void bwd_data_batch_task(void* vc, int task, int tid) {
  const bwd_data_ctx* C = vc;
  const conv_geom* g = &C->g;
  const int g4 = task / g->h, y = task - g4 * g->h, t0 = 4 * g4, rows = imin(4, g->n - t0);
  char* ts = C->ts + tid * C->tstride;
  float* tmp = (float*)ts;
  seg_t* segs = (seg_t*)(tmp + 32);
  int bb[4], iy[4] = {y, y, y, y};
  for (int r = 0; r < 4; r++) bb[r] = t0 + imin(r, rows - 1);
  for (int x = 0; x < g->w; x++) {
    int ix[4] = {x, x, x, x};
    float* px[4];
    for (int r = 0; r < 4; r++) px[r] = C->dx + ((bb[r] * g->h + y) * g->w + x) * g->c;
    bwd_data_store(C, segs, bwd_data_segs(C, bb, iy, ix, segs), px, rows, tmp);
  }
}

// strides: one input row per task, its pixels grouped by phase (ix mod sw) so that a tile's four
// pixels have the same valid taps
static void bwd_data_task(void* vc, int row, int tid) {
  const bwd_data_ctx* C = vc;
  const conv_geom* g = &C->g;
  const int W = g->w, sw = g->sw;
  const int b = row / g->h, y = row - b * g->h;
  char* ts = C->ts + tid * C->tstride;
  float* tmp = (float*)ts;
  seg_t* segs = (seg_t*)(tmp + 32);
  for (int phase = 0; phase < sw && phase < W; phase++) {
    const int count = (W - phase + sw - 1) / sw;
    for (int t0 = 0; t0 < count; t0 += 4) {
      const int rows = imin(4, count - t0);
      int bb[4] = {b, b, b, b}, iy[4] = {y, y, y, y}, ix[4];
      float* px[4];
      for (int r = 0; r < 4; r++) {
        ix[r] = phase + sw * (t0 + imin(r, rows - 1));
        px[r] = C->dx + ((b * g->h + y) * W + ix[r]) * g->c;
      }
      bwd_data_store(C, segs, bwd_data_segs(C, bb, iy, ix, segs), px, rows, tmp);
    }
  }
}

EXPORT(conv2d_backward_data) void conv2d_backward_data(const float* dy, const float* w, float* dx) {
  bwd_data_ctx C = {conv_params(), dy, w};
  if (wino_applies_data(&C.g)) {
    wino_backward_data(&C.g, dy, w, dx);
    return;
  }
  C.dx = dx;
  const conv_geom* g = &C.g;
  C.panels = ceil_div(g->c, 8);
  C.wt = scratch((size_t)C.panels * g->kh * g->kw * g->f * 8 * 4);
  C.zero = scratch_zero((size_t)(g->f + 8) * 4);
  C.tstride = (int)(32 * 4 + g->kh * g->kw * sizeof(seg_t) + 64) & ~63;
  C.ts = scratch((size_t)C.tstride * threads());
  parallel_for(C.panels, pack_wt_task, &C);
  if (g->w < 32 && g->n >= 8) {
    parallel_for(ceil_div(g->n, 4) * g->h, bwd_data_batch_task, &C);
  } else if (g->sw == 1) {
    const int tiles = ceil_div(g->n * g->h * g->w, 4);
    C.per_chunk = imax(2, tiles / (16 * threads()));
    parallel_for(ceil_div(tiles, C.per_chunk), bwd_data_flat_task, &C);
  } else {
    parallel_for(g->n * g->h, bwd_data_task, &C);
  }
}

// ---- backward weights --------------------------------------------------------------------------
//
// dw[k][j] = sum over output pixels m of x_col[m][k] · dy[m][j], k = (ky, kx, ci): tiles of 4 k's by
// 8 filters, A read straight from x (a k-row of x_col along one output row is x at a stride of sw·c
// floats) and B from dy in place; no im2col. Work is split by k-tiles and filter panels, so each dw
// element is summed by one chunk over the pixels in a fixed order (blocks of output rows) and the
// result does not depend on the thread count. When c is a multiple of 4 a tile's four k's are four
// channels of one tap and each output row's run is clipped to the taps inside x; otherwise x is
// first copied zero-padded (hp x wp) so that every tap of every output pixel is inside it.

typedef struct {
  conv_geom g;
  const float *x, *dy;  // x: the input, or its padded copy (then hp x wp, no padding)
  float *dw, *db;
  int padded, hp, wp, batch_runs;
  int K, N, ktiles, panels, kper, pper, npc, rows, rblock, slots;
  float* part;
  char* ts;
  int tstride;
} bwd_w_ctx;

static void bwd_w_task(void* vc, int chunk, int tid) {
  const bwd_w_ctx* C = vc;
  const conv_geom* g = &C->g;
  const int c = g->c, N = C->N, K = C->K, kw = g->kw, ow = g->ow, sw = g->sw;
  const int kc = C->slots ? 0 : chunk / C->npc, pc = C->slots ? 0 : chunk - kc * C->npc;
  const int kt0 = kc * C->kper, kt1 = imin(kt0 + C->kper, C->ktiles);
  const int p0 = pc * C->pper, p1 = imin(p0 + C->pper, C->panels);
  if (kt0 >= kt1 || p0 >= p1) return;
  // slot mode (small K): chunk = slot, summing blocks slot, slot + slots, ... into its own partial dw
  // and db, added up in slot order afterwards
  float* const dwo = C->slots ? C->part + (size_t)chunk * (K * N + N) : C->dw;
  float* const dbo = C->slots ? dwo + K * N : C->db;
  const int rstart = C->slots ? chunk * C->rblock : 0, rstep = C->slots ? C->slots * C->rblock : C->rblock;
  char* ts = C->ts + tid * C->tstride;
  float* tmp = (float*)ts;
  seg_t* segs = (seg_t*)(tmp + 32);
  const int H = C->padded ? C->hp : g->h, W = C->padded ? C->wp : g->w;
  const int pt = C->padded ? 0 : g->pt, pl = C->padded ? 0 : g->pl;
  const int as = C->batch_runs ? H * W * c : sw * c, ldb = C->batch_runs ? g->oh * ow * N : N;
  for (int r0 = rstart; r0 < C->rows; r0 += rstep) {
    const int r1 = imin(r0 + C->rblock, C->rows), first = r0 == rstart;
    for (int kt = kt0; kt < kt1; kt++) {
      const int k0 = 4 * kt, nrow = imin(4, K - k0);
      int off[4], ky[4], kx[4];
      for (int r = 0; r < 4; r++) {
        const int k = k0 + imin(r, nrow - 1), tap = k / c, ci = k - tap * c;
        ky[r] = tap / kw;
        kx[r] = tap - ky[r] * kw;
        off[r] = (ky[r] * W + kx[r]) * c + ci;  // from the tap (0, 0) of the pixel
      }
      int nseg = 0;
      for (int run = r0; run < r1; run++) {
        seg_t* s = &segs[nseg];
        if (C->batch_runs) {  // run = output pixel (oy, ox), over the batch
          const int oy = run / ow, ox = run - oy * ow;
          const int iy = oy * g->sh - pt, ix = ox * sw - pl;  // of the tap (0, 0)
          if (!C->padded && (iy + ky[0] < 0 || iy + ky[0] >= H || ix + kx[0] < 0 || ix + kx[0] >= W)) continue;
          const float* base = C->x + (iy * W + ix) * c;
          for (int r = 0; r < 4; r++) s->a[r] = base + off[r];
          s->b = C->dy + run * N;
          s->len = g->n;
          nseg++;
          continue;
        }
        const int b = run / g->oh, oy = run - b * g->oh;  // run = output row (b, oy)
        int ox0 = 0, ox1 = ow;  // the run's pixels
        const int iy0 = oy * g->sh - pt;  // input row of ky = 0
        if (!C->padded) {  // one tap (c % 4 == 0): clip to the pixels whose tap is inside x
          const int iy = iy0 + ky[0];
          if (iy < 0 || iy >= H) continue;
          const int d = kx[0] - pl;  // ix = ox·sw + d
          if (d < 0) ox0 = (-d + sw - 1) / sw;
          ox1 = imin(ow, (W - 1 - d) / sw + 1);
          if (ox0 >= ox1) continue;
        }
        const float* base = C->x + ((b * H + iy0) * W + ox0 * sw - pl) * c;
        for (int r = 0; r < 4; r++) s->a[r] = base + off[r];
        s->b = C->dy + (run * ow + ox0) * N;
        s->len = ox1 - ox0;
        nseg++;
      }
      for (int p = p0; p < p1; p++) {
        float* cp[4];
        for (int r = 0; r < 4; r++) cp[r] = dwo + (k0 + imin(r, nrow - 1)) * N + p * 8;
        if (nseg == 0 && !first) continue;
        tile_store_strided(segs, nseg, p * 8, as, ldb, cp, nrow, imin(8, N - p * 8), !first, tmp);
      }
    }
    if (C->db && kt0 == 0)  // bias gradient: column sums of dy, by the chunks holding k-tile 0
      for (int p = p0; p < p1; p++) {
        v4 a0 = wasm_f32x4_splat(0), a1 = a0;
        if (C->batch_runs) {
          for (int run = r0; run < r1; run++) {
            const float* d = C->dy + run * N + p * 8;
            for (int b = 0; b < g->n; b++, d += ldb) {
              a0 = wasm_f32x4_add(a0, wasm_v128_load(d));
              a1 = wasm_f32x4_add(a1, wasm_v128_load(d + 4));
            }
          }
        } else {
          const float* d = C->dy + r0 * ow * N + p * 8;
          for (int t = r0 * ow; t < r1 * ow; t++, d += N) {
            a0 = wasm_f32x4_add(a0, wasm_v128_load(d));
            a1 = wasm_f32x4_add(a1, wasm_v128_load(d + 4));
          }
        }
        float acc[8];
        wasm_v128_store(acc, a0);
        wasm_v128_store(acc + 4, a1);
        const int cols = imin(8, N - p * 8);
        for (int j = 0; j < cols; j++) dbo[p * 8 + j] = first ? acc[j] : dbo[p * 8 + j] + acc[j];
      }
  }
}

void conv_backward_weights_impl(const conv_geom* g, const float* x, const float* dy, float* dw, float* db) {
  if (wino_applies_weights(g)) {
    wino_backward_weights(g, x, dy, dw, db);
    return;
  }
  bwd_w_ctx C = {*g, x, dy, dw, db};
  C.K = g->kh * g->kw * g->c;
  C.N = g->f;
  C.ktiles = ceil_div(C.K, 4);
  C.panels = ceil_div(C.N, 8);
  // runs along output rows, or for small images along the batch (one output pixel of every image)
  C.batch_runs = g->ow < 12 && g->n >= 2 * g->ow;
  C.rows = C.batch_runs ? g->oh * g->ow : g->n * g->oh;
  C.rblock = imax(1, C.batch_runs ? 256 / g->n : 128 / g->ow);  // pixels per block: about 256 (batch), 128 (rows)
  C.hp = (g->oh - 1) * g->sh + g->kh;
  C.wp = (g->ow - 1) * g->sw + g->kw;
  C.padded = g->c % 4 != 0;
  if (C.padded) C.x = pad_input(g, x, C.hp, C.wp);
  const int target = 2 * threads();
  if (C.ktiles * C.panels <= 32) {
    // small K (a first layer): 8 fixed slots of the pixels (not the thread count, so that the sums'
    // order stays the same), each through every tile while its block of dy is in cache
    C.slots = imin(8, ceil_div(C.rows, C.rblock));
    C.kper = C.ktiles;
    C.npc = 1;
    C.pper = C.panels;
    C.part = scratch((size_t)C.slots * (C.K * C.N + C.N) * 4);
    C.tstride = (int)(32 * 4 + C.rblock * sizeof(seg_t) + 64) & ~63;
    C.ts = scratch((size_t)C.tstride * threads());
    parallel_for(C.slots, bwd_w_task, &C);
    const int KN = C.K * C.N;
    sum_slots(C.part, C.slots, KN + C.N, KN, dw);
    if (db) sum_slots(C.part + KN, C.slots, KN + C.N, C.N, db);
    return;
  }
  // chunks: k-tile ranges x filter-panel ranges, about 2 per thread (each chunk reads all of x and dy)

  const int nkc = imin(C.ktiles, target);
  C.kper = ceil_div(C.ktiles, nkc);
  C.npc = imin(C.panels, ceil_div(target, ceil_div(C.ktiles, C.kper)));
  C.pper = ceil_div(C.panels, C.npc);
  C.npc = ceil_div(C.panels, C.pper);
  C.tstride = (int)(32 * 4 + C.rblock * sizeof(seg_t) + 64) & ~63;
  C.ts = scratch((size_t)C.tstride * threads());
  parallel_for(ceil_div(C.ktiles, C.kper) * C.npc, bwd_w_task, &C);
}

EXPORT(conv2d_backward_weights) void conv2d_backward_weights(const float* x, const float* dy, float* dw, float* db) {
  conv_geom g = conv_params();
  conv_backward_weights_impl(&g, x, dy, dw, db);
}

// ---- single-channel convolutions: the first layer ----------------------------------------------
//
// With c = 1 an output pixel's im2col row is the kh x kw patch of the (zero-padded) input: tiles of 4
// pixels by 8 filters, the k loop over kernel rows and, unrolled with kw a constant, their taps.

typedef struct {
  conv_geom g;
  pool_geom p;
  const float *xp, *w, *b;  // xp: hp x wp per image
  float* y;
  int32_t* ws;
  int hp, wp, relu, panels;
} c1_ctx;

/** One 4x8 tile: a[r] = pixel r's tap (0, 0) in the padded input; w: the panel's filters at tap 0. */
INLINE void c1_tile(const float* const* a, const float* w, const float* bias, int f, int wp, int kh, const int KW, v4* out) {
  v4 c00, c01, c10, c11, c20, c21, c30, c31;
  if (bias) {
    c00 = c10 = c20 = c30 = wasm_v128_load(bias);
    c01 = c11 = c21 = c31 = wasm_v128_load(bias + 4);
  } else {
    c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = wasm_f32x4_splat(0);
  }
  const float *a0 = a[0], *a1 = a[1], *a2 = a[2], *a3 = a[3];
  for (int ky = 0; ky < kh; ky++, a0 += wp, a1 += wp, a2 += wp, a3 += wp)
#pragma clang loop unroll(disable)  // unrolled, clang hoists the loads and products and V8 spills them
    for (int kx = 0; kx < KW; kx++, w += f) {
      const v4 b0 = wasm_v128_load(w), b1 = wasm_v128_load(w + 4);
      v4 x = wasm_v128_load32_splat(a0 + kx);
      c00 = wasm_f32x4_add(c00, wasm_f32x4_mul(x, b0)); c01 = wasm_f32x4_add(c01, wasm_f32x4_mul(x, b1));
      x = wasm_v128_load32_splat(a1 + kx);
      c10 = wasm_f32x4_add(c10, wasm_f32x4_mul(x, b0)); c11 = wasm_f32x4_add(c11, wasm_f32x4_mul(x, b1));
      x = wasm_v128_load32_splat(a2 + kx);
      c20 = wasm_f32x4_add(c20, wasm_f32x4_mul(x, b0)); c21 = wasm_f32x4_add(c21, wasm_f32x4_mul(x, b1));
      x = wasm_v128_load32_splat(a3 + kx);
      c30 = wasm_f32x4_add(c30, wasm_f32x4_mul(x, b0)); c31 = wasm_f32x4_add(c31, wasm_f32x4_mul(x, b1));
    }
  out[0] = c00; out[1] = c01; out[2] = c10; out[3] = c11; out[4] = c20; out[5] = c21; out[6] = c30; out[7] = c31;
}

// conv (+ ReLU): one output row (b, oy) per task
INLINE void c1_fwd_row(const c1_ctx* C, int row, const int KW) {
  const conv_geom* g = &C->g;
  const int f = g->f, ow = g->ow, b = row / g->oh, oy = row - b * g->oh;
  const float* xr = C->xp + ((size_t)b * C->hp + oy * g->sh) * C->wp;
  float* yr = C->y + (size_t)row * ow * f;
  const v4 z = wasm_f32x4_splat(0);
  for (int ox0 = 0; ox0 < ow; ox0 += 4) {
    const int rows = imin(4, ow - ox0);
    const float* a[4];
    for (int r = 0; r < 4; r++) a[r] = xr + (ox0 + imin(r, rows - 1)) * g->sw;
    for (int p = 0; p < C->panels; p++) {
      v4 acc[8];
      c1_tile(a, C->w + p * 8, C->b ? C->b + p * 8 : 0, f, C->wp, g->kh, KW, acc);
      if (C->relu)
        for (int i = 0; i < 8; i++) acc[i] = wasm_f32x4_pmax(acc[i], z);
      const int cols = imin(8, f - p * 8);
      float* o = yr + ox0 * f + p * 8;
      if (cols == 8) {
        for (int r = 0; r < rows; r++) {
          wasm_v128_store(o + r * f, acc[2 * r]);
          wasm_v128_store(o + r * f + 4, acc[2 * r + 1]);
        }
      } else {
        float t[32];
        for (int i = 0; i < 8; i++) wasm_v128_store(t + 4 * i, acc[i]);
        for (int r = 0; r < rows; r++)
          for (int j = 0; j < cols; j++) o[r * f + j] = t[8 * r + j];
      }
    }
  }
}

// conv → ReLU → 2x2/2 max pooling: one pooled row (b, py) per task, a tile being one pooling window
INLINE void c1_pool_row(const c1_ctx* C, int row, const int KW) {
  const conv_geom* g = &C->g;
  const pool_geom* p = &C->p;
  const int f = g->f, b = row / p->oh, py = row - b * p->oh, wp = C->wp;
  const float* xr = C->xp + ((size_t)b * C->hp + 2 * py) * wp;  // stride 1
  const v4 z = wasm_f32x4_splat(0), lane = wasm_i32x4_make(0, 1, 2, 3);
  for (int px = 0; px < p->ow; px++) {
    const float* a[4] = {xr + 2 * px, xr + 2 * px + 1, xr + wp + 2 * px, xr + wp + 2 * px + 1};
    const int cell0 = ((b * g->oh + 2 * py) * g->ow + 2 * px) * f;  // the window's cells: +0, +f, +ow·f, +ow·f+f
    const int cell[4] = {cell0, cell0 + f, cell0 + g->ow * f, cell0 + g->ow * f + f};
    const int o = ((b * p->oh + py) * p->ow + px) * f;
    for (int q = 0; q < C->panels; q++) {
      v4 acc[8];
      c1_tile(a, C->w + q * 8, C->b ? C->b + q * 8 : 0, f, wp, g->kh, KW, acc);
      v4 best0 = wasm_f32x4_pmax(acc[0], z), best1 = wasm_f32x4_pmax(acc[1], z);
      v4 arg0 = wasm_i32x4_add(wasm_i32x4_splat(cell[0] + q * 8), lane), arg1 = wasm_i32x4_add(arg0, wasm_i32x4_splat(4));
      for (int r = 1; r < 4; r++) {  // the reference's tie rule: a later cell must be strictly greater
        const v4 v0 = wasm_f32x4_pmax(acc[2 * r], z), v1 = wasm_f32x4_pmax(acc[2 * r + 1], z);
        const v4 m0 = wasm_f32x4_gt(v0, best0), m1 = wasm_f32x4_gt(v1, best1);
        const v4 i0 = wasm_i32x4_add(wasm_i32x4_splat(cell[r] + q * 8), lane), i1 = wasm_i32x4_add(i0, wasm_i32x4_splat(4));
        best0 = wasm_v128_bitselect(v0, best0, m0);
        best1 = wasm_v128_bitselect(v1, best1, m1);
        arg0 = wasm_v128_bitselect(i0, arg0, m0);
        arg1 = wasm_v128_bitselect(i1, arg1, m1);
      }
      const int cols = imin(8, f - q * 8);
      if (cols == 8) {
        wasm_v128_store(C->y + o + q * 8, best0);
        wasm_v128_store(C->y + o + q * 8 + 4, best1);
        wasm_v128_store(C->ws + o + q * 8, arg0);
        wasm_v128_store(C->ws + o + q * 8 + 4, arg1);
      } else {
        float t[8];
        int32_t ti[8];
        wasm_v128_store(t, best0); wasm_v128_store(t + 4, best1);
        wasm_v128_store(ti, arg0); wasm_v128_store(ti + 4, arg1);
        for (int j = 0; j < cols; j++) {
          C->y[o + q * 8 + j] = t[j];
          C->ws[o + q * 8 + j] = ti[j];
        }
      }
    }
  }
}

#define C1_TASKS(KW)                                                                              \
  static void c1_fwd_task_##KW(void* vc, int row, int tid) { c1_fwd_row(vc, row, KW); }          \
  static void c1_pool_task_##KW(void* vc, int row, int tid) { c1_pool_row(vc, row, KW); }
C1_TASKS(1)
C1_TASKS(2)
C1_TASKS(3)
C1_TASKS(4)
C1_TASKS(5)
static const task_fn c1_fwd_tasks[6] = {0, c1_fwd_task_1, c1_fwd_task_2, c1_fwd_task_3, c1_fwd_task_4, c1_fwd_task_5};
static const task_fn c1_pool_tasks[6] = {0, c1_pool_task_1, c1_pool_task_2, c1_pool_task_3, c1_pool_task_4, c1_pool_task_5};

static int c1_applies(const conv_geom* g) { return g->c == 1 && g->kw <= 5; }

static c1_ctx c1_setup(const conv_geom* g, const float* x, const float* w, const float* b);

static void c1_forward(const conv_geom* g, const float* x, const float* w, const float* b, float* y, int relu) {
  c1_ctx C = c1_setup(g, x, w, b);
  C.y = y;
  C.relu = relu;
  parallel_for(g->n * g->oh, c1_fwd_tasks[g->kw], &C);
}

static c1_ctx c1_setup(const conv_geom* g, const float* x, const float* w, const float* b) {
  c1_ctx C = {*g};
  C.w = w;
  C.b = b;
  C.hp = (g->oh - 1) * g->sh + g->kh;
  C.wp = (g->ow - 1) * g->sw + g->kw;
  C.panels = ceil_div(g->f, 8);
  C.xp = pad_input(g, x, C.hp, C.wp);
  return C;
}

// ---- the fused single-channel first layer: conv → ReLU → 2x2/2 max pooling ---------------------

void maxpool_forward_impl(const pool_geom* p, const float* x, float* y, int32_t* ws);

EXPORT(conv2d_relu_maxpool_forward) void conv2d_relu_maxpool_forward(const float* x, const float* w, const float* b, float* y, int32_t* ws) {
  conv_geom g = conv_params();
  pool_geom p = pool_params();
  if (c1_applies(&g) && g.sh == 1 && g.sw == 1) {
    c1_ctx C = c1_setup(&g, x, w, b);
    C.p = p;
    C.y = y;
    C.ws = ws;
    parallel_for(p.n * p.oh, c1_pool_tasks[g.kw], &C);
    return;
  }
  float* z = scratch((size_t)g.n * g.oh * g.ow * g.f * 4);
  conv_forward_impl(&g, x, w, b, z, 1);
  maxpool_forward_impl(&p, z, y, ws);
}

// The fused layer's weight gradient from the pool's winners: per block of pooled rows, the conv
// output's gradient (a winner's cell gets dy where y > 0, its window's other cells 0; a winner outside
// its window, a corrupt workspace, is dropped as the native core does) is written densely into a
// small buffer, then the backward weights' tiles (4 taps x 8 filters, A from the zero-padded input)
// run over it while it is in cache. Images are split into 8 fixed slots whose partial sums are added
// in order (thread-independent).
typedef struct {
  conv_geom g;
  pool_geom p;
  const float *xp, *dy, *y;  // xp: the input zero-padded to hp x wp
  const int32_t* ws;
  float* part;               // slots x (taps·f + f)
  int hp, wp, slots, prb;    // prb: pooled rows per block
  char* ts;
  int tstride;
} fused_bw_ctx;

static void fused_bw_task(void* vc, int slot, int tid) {
  const fused_bw_ctx* C = vc;
  const conv_geom* g = &C->g;
  const pool_geom* p = &C->p;
  const int f = g->f, K = g->kh * g->kw, ktiles = ceil_div(K, 4), panels = ceil_div(f, 8), wp = C->wp;
  const int L = 2 * p->ow;  // conv columns under the pooling windows
  float* dwp = C->part + (size_t)slot * (K * f + f);
  float* dbp = dwp + K * f;
  char* ts = C->ts + tid * C->tstride;
  float* tmp = (float*)ts;
  seg_t* segs = (seg_t*)(tmp + 32);
  float* dz = (float*)(((uintptr_t)(segs + 2 * C->prb) + 15) & ~(uintptr_t)15);  // 2·prb rows x L x f
  const int n0 = (int)((int64_t)p->n * slot / C->slots), n1 = (int)((int64_t)p->n * (slot + 1) / C->slots);
  for (int j = 0; j < f; j++) dbp[j] = 0;
  const v4 zero = wasm_f32x4_splat(0), lane = wasm_i32x4_make(0, 1, 2, 3);
  const v4 dq1 = wasm_i32x4_splat(f), dq2 = wasm_i32x4_splat(g->ow * f), dq3 = wasm_i32x4_splat(g->ow * f + f);
  int first = 1;
  for (int n = n0; n < n1; n++)
    for (int py0 = 0; py0 < p->oh; py0 += C->prb, first = 0) {
      const int py1 = imin(py0 + C->prb, p->oh), rows = 2 * (py1 - py0);
      for (int py = py0; py < py1; py++) {
        float* drow = dz + (size_t)2 * (py - py0) * L * f;
        for (int px = 0; px < p->ow; px++) {
          const int o = ((n * p->oh + py) * p->ow + px) * f, cell = ((n * g->oh + 2 * py) * g->ow + 2 * px) * f;
          float* d0 = drow + 2 * px * f;
          for (int j = 0; j < f; j += 4) {
            const v4 live = wasm_f32x4_gt(wasm_v128_load(C->y + o + j), zero);
            const v4 d = wasm_v128_and(wasm_v128_load(C->dy + o + j), live);
            const v4 w = wasm_i32x4_sub(wasm_v128_load(C->ws + o + j), wasm_i32x4_add(wasm_i32x4_splat(cell + j), lane));
            const v4 g0 = wasm_v128_and(d, wasm_i32x4_eq(w, zero)), g1 = wasm_v128_and(d, wasm_i32x4_eq(w, dq1));
            const v4 g2 = wasm_v128_and(d, wasm_i32x4_eq(w, dq2)), g3 = wasm_v128_and(d, wasm_i32x4_eq(w, dq3));
            wasm_v128_store(d0 + j, g0);
            wasm_v128_store(d0 + f + j, g1);
            wasm_v128_store(d0 + L * f + j, g2);
            wasm_v128_store(d0 + L * f + f + j, g3);
            const v4 sb = wasm_f32x4_add(wasm_f32x4_add(g0, g1), wasm_f32x4_add(g2, g3));
            wasm_v128_store(dbp + j, wasm_f32x4_add(wasm_v128_load(dbp + j), sb));
          }
        }
      }
      const float* xb = C->xp + ((size_t)n * C->hp + 2 * py0) * wp;
      for (int kt = 0; kt < ktiles; kt++) {
        const int k0 = 4 * kt, nrow = imin(4, K - k0);
        int off[4];
        for (int r = 0; r < 4; r++) {
          const int k = k0 + imin(r, nrow - 1), ky = k / g->kw;
          off[r] = ky * wp + k - ky * g->kw;
        }
        for (int i = 0; i < rows; i++) {
          for (int r = 0; r < 4; r++) segs[i].a[r] = xb + i * wp + off[r];
          segs[i].b = dz + (size_t)i * L * f;
          segs[i].len = L;
        }
        for (int q = 0; q < panels; q++) {
          float* cp[4];
          for (int r = 0; r < 4; r++) cp[r] = dwp + (k0 + imin(r, nrow - 1)) * f + q * 8;
          tile_store_strided(segs, rows, q * 8, 1, f, cp, nrow, imin(8, f - q * 8), !first, tmp);
        }
      }
    }
}

EXPORT(conv2d_relu_maxpool_backward_weights)
void conv2d_relu_maxpool_backward_weights(const float* x, const float* dy, const int32_t* ws, const float* y, float* dw, float* db) {
  conv_geom g = conv_params();
  pool_geom p = pool_params();
  const int taps = g.kh * g.kw, f = g.f;
  if (f % 4 == 0 && g.sh == 1 && g.sw == 1) {
    fused_bw_ctx C = {g, p, 0, dy, y, ws, 0, g.oh + g.kh - 1, g.ow + g.kw - 1, imin(8, p.n)};
    C.prb = imax(1, imin(p.oh, 4096 / (2 * p.ow * f)));  // about 32 KiB of the conv's gradient per block
    C.tstride = (int)((32 * 4 + 2 * C.prb * sizeof(seg_t) + 16 + (size_t)2 * C.prb * 2 * p.ow * f * 4 + 64 + 63) & ~63);
    C.ts = scratch((size_t)C.tstride * threads());
    C.xp = pad_input(&g, x, C.hp, C.wp);
    C.part = scratch((size_t)C.slots * (taps * f + f) * 4);
    parallel_for(C.slots, fused_bw_task, &C);
    const int len = taps * f + f;
    sum_slots(C.part, C.slots, len, taps * f, dw);
    if (db) sum_slots(C.part + taps * f, C.slots, len, f, db);
    return;
  }
  // other shapes: the pool's backward into the conv's output gradient, then the generic weight gradient
  const int zlen = g.n * g.oh * g.ow * g.f;
  float* dz = scratch_zero((size_t)zlen * 4);
  int i = 0;
  for (int n = 0; n < p.n; n++)
    for (int py = 0; py < p.oh; py++)
      for (int px = 0; px < p.ow; px++) {
        const int c00 = ((n * g.oh + 2 * py) * g.ow + 2 * px) * f, c10 = c00 + g.ow * f;
        for (int k = 0; k < f; k++, i++) {
          const int at = ws[i];
          if (y[i] > 0 && (at == c00 + k || at == c00 + f + k || at == c10 + k || at == c10 + f + k)) dz[at] += dy[i];
        }
      }
  conv_backward_weights_impl(&g, x, dz, dw, db);
}
