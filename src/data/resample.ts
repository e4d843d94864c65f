// Resampling and grey morphology over float planes, free of node modules (the page runs them too).

/**
 * Separable resampling: area-averaging down (every source pixel counted by the share of it inside the
 * target pixel, so nothing aliases), bilinear up.
 */
export function resize(src: Float32Array, sw: number, sh: number, dw: number, dh: number): Float32Array {
  if (sw === dw && sh === dh) return src;
  const rows = pass(src, sw, dw, sh, sw, 1); // sh lines of dw
  const cols = pass(rows, sh, dh, dw, 1, dw); // dw lines (columns) of dh, stored column-major
  const out = new Float32Array(dw * dh);
  for (let x = 0; x < dw; x++) for (let y = 0; y < dh; y++) out[y * dw + x] = cols[x * dh + y];
  return out;
}

/** Resample `count` lines of `len` samples (elements `step` apart, lines `stride` apart) to `outLen`. */
function pass(inp: Float32Array, len: number, outLen: number, count: number, stride: number, step: number): Float32Array {
  const out = new Float32Array(count * outLen);
  const scale = len / outLen;
  const idx: number[] = [],
    wts: number[] = [],
    start: number[] = [];
  for (let j = 0; j < outLen; j++) {
    start.push(idx.length);
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
  start.push(idx.length);
  const I = Int32Array.from(idx),
    W = Float32Array.from(wts);
  for (let l = 0; l < count; l++) {
    const base = l * stride,
      o = l * outLen;
    for (let j = 0; j < outLen; j++) {
      let s = 0;
      for (let k = start[j]; k < start[j + 1]; k++) s += W[k] * inp[base + I[k] * step];
      out[o + j] = s;
    }
  }
  return out;
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
