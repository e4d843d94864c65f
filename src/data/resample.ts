// Resampling and grey morphology over float planes, free of node modules (the page runs them too).

/**
 * Separable resampling: area-averaging down (every source pixel counted by the share of it inside the
 * target pixel, so nothing aliases), bilinear up.
 */
export function resize(src: Float32Array, sw: number, sh: number, dw: number, dh: number): Float32Array {
  if (sw === dw && sh === dh) return src;
  // along the rows, then down the columns: each output row a weighted sum of whole rows, so the memory
  // is read in order (summed in float64 per pixel, tap by tap, as a column at a time would)
  return down(across(src, sw, sh, dw), dw, sh, dh);
}

/**
 * Area-averaged by whole f×f blocks (a block past the right or bottom edge is filled with `pad`, the
 * paper): an exact area average at 1/f of the size, in one pass.
 */
export function shrinkBy(
  src: ArrayLike<number>,
  w: number,
  h: number,
  f: number,
  pad: number,
): { data: Float32Array; width: number; height: number } {
  const W = Math.ceil(w / f),
    H = Math.ceil(h / f);
  return { data: blockMeans(blockSums(src, w, h, f), w, h, f, pad), width: W, height: H };
}

/** The sums of src's f×f blocks (a block past the right or bottom edge summing what it covers). */
function blockSums(src: ArrayLike<number>, w: number, h: number, f: number): Float64Array {
  const W = Math.ceil(w / f);
  const sums = new Float64Array(W * Math.ceil(h / f));
  // a call per row: see ink.ts on passes over a whole picture
  for (let y = 0; y < h; y++) rowBlockSums(src, y * w, (y + 1) * w, f, W, sums, ((y / f) | 0) * W);
  return sums;
}

/** Row [i, end)'s sums over f pixels at a time, added to sums[o], sums[o + 1], … */
function rowBlockSums(src: ArrayLike<number>, i: number, end: number, f: number, W: number, sums: Float64Array, o: number): void {
  for (let X = 0; X < W; X++) {
    let s = 0;
    for (const e = Math.min(i + f, end); i < e; i++) s += src[i];
    sums[o + X] += s;
  }
}

/** Block sums as means over f×f pixels, the part of a block past the edge counted as `pad`. */
function blockMeans(sums: Float64Array, w: number, h: number, f: number, pad: number): Float32Array {
  const W = Math.ceil(w / f),
    H = Math.ceil(h / f);
  const out = new Float32Array(W * H),
    k = 1 / (f * f);
  for (let Y = 0; Y < H; Y++)
    for (let X = 0; X < W; X++) {
      const missing = f * f - Math.min(f, w - X * f) * Math.min(f, h - Y * f);
      out[Y * W + X] = (sums[Y * W + X] + missing * pad) * k;
    }
  return out;
}

/** Each row resampled from sw to dw samples. */
function across(src: Float32Array, sw: number, sh: number, dw: number): Float32Array {
  const rows = new Float32Array(sh * dw);
  const { idx, wts, start } = taps(sw, dw);
  for (let y = 0; y < sh; y++) {
    const base = y * sw,
      o = y * dw;
    for (let j = 0; j < dw; j++) {
      let s = 0;
      const end = start[j + 1];
      for (let k = start[j]; k < end; k++) s += wts[k] * src[base + idx[k]];
      rows[o + j] = s;
    }
  }
  return rows;
}

/** Each column resampled from sh to dh samples, a whole row at a time. */
function down(rows: Float32Array, w: number, sh: number, dh: number): Float32Array {
  const out = new Float32Array(w * dh);
  const acc = new Float64Array(w);
  const { idx, wts, start } = taps(sh, dh);
  for (let j = 0; j < dh; j++) {
    acc.fill(0);
    const end = start[j + 1];
    for (let k = start[j]; k < end; k++) {
      const r = idx[k] * w,
        wk = wts[k];
      for (let x = 0; x < w; x++) acc[x] += wk * rows[r + x];
    }
    out.set(acc, j * w);
  }
  return out;
}

/** The source samples and weights of each of `outLen` targets resampling `len` samples. */
function taps(len: number, outLen: number): { idx: Int32Array; wts: Float32Array; start: Int32Array } {
  const scale = len / outLen;
  const idx: number[] = [],
    wts: number[] = [],
    start = new Int32Array(outLen + 1);
  for (let j = 0; j < outLen; j++) {
    start[j] = idx.length;
    const centre = (j + 0.5) * scale - 0.5;
    const a = Math.max(0, Math.floor(centre - scale)),
      b = Math.min(len - 1, Math.ceil(centre + scale));
    let total = 0;
    const first = idx.length;
    for (let i = a; i <= b; i++) {
      // down: the share of source pixel i inside the target's footprint; up: linear interpolation
      const w = scale > 1 ? Math.max(0, Math.min(i + 1, (j + 1) * scale) - Math.max(i, j * scale)) : Math.max(0, 1 - Math.abs(i - centre));
      if (w > 0) {
        idx.push(i);
        wts.push(w);
        total += w;
      }
    }
    if (idx.length === first) {
      idx.push(clampInt(Math.round(centre), 0, len - 1));
      wts.push(1);
      total = 1;
    }
    for (let k = first; k < idx.length; k++) wts[k] /= total;
  }
  start[outLen] = idx.length;
  return { idx: Int32Array.from(idx), wts: Float32Array.from(wts), start };
}

const clampInt = (v: number, lo: number, hi: number) => Math.max(lo, Math.min(hi, v));

/**
 * Grey dilation by a disc of radius `r` (fractional radii give a soft rim, so the stroke widens
 * smoothly): each pixel becomes the largest value within reach, weighted down at the disc's edge.
 */
export function dilate(src: Float32Array, w: number, h: number, r: number): Float32Array {
  if (r <= 0) return src;
  const R = Math.ceil(r);
  const offs: { dx: number; dy: number; wt: number }[] = [];
  for (let dy = -R; dy <= R; dy++)
    for (let dx = -R; dx <= R; dx++) {
      const wt = Math.min(1, Math.max(0, r + 0.5 - Math.hypot(dx, dy)));
      if (wt > 0) offs.push({ dx, dy, wt });
    }
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const v = src[y * w + x];
      if (v <= 0) continue;
      // scatter: cheaper than gathering because most pixels of a digit's crop are empty
      for (const { dx, dy, wt } of offs) {
        const X = x + dx,
          Y = y + dy;
        if (X < 0 || Y < 0 || X >= w || Y >= h) continue;
        const o = Y * w + X,
          c = v * wt;
        if (c > out[o]) out[o] = c;
      }
    }
  return out;
}

/** Grey erosion by a disc of radius `r` (the smallest value within reach; outside the image counts as empty). */
export function erode(src: Float32Array, w: number, h: number, r: number): Float32Array {
  if (r <= 0) return src;
  const R = Math.ceil(r);
  const offs: { dx: number; dy: number; wt: number }[] = [];
  for (let dy = -R; dy <= R; dy++)
    for (let dx = -R; dx <= R; dx++) {
      const wt = Math.min(1, Math.max(0, r + 0.5 - Math.hypot(dx, dy)));
      if (wt > 0) offs.push({ dx, dy, wt });
    }
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const v = src[y * w + x];
      if (v <= 0) continue;
      let m = v;
      for (const { dx, dy, wt } of offs) {
        const X = x + dx,
          Y = y + dy;
        const n = X < 0 || Y < 0 || X >= w || Y >= h ? 0 : src[Y * w + X];
        // a neighbour at the rim pulls the value down only in part
        const c = v - wt * (v - Math.min(v, n));
        if (c < m) m = c;
      }
      out[y * w + x] = m;
    }
  return out;
}
