// MNIST's normalisation for any picture of a digit (gray, RGB or RGBA), in plain TypeScript over raw
// pixels so the server (after sharp decodes) and the browser page (after a canvas) run the very same
// steps:
//   ink.ts      paper divided out per channel (uneven light), the channels with the ink's contrast
//               combined (coloured ink and paper), polarity either way, hysteresis thresholds;
//   strokes.ts  ruled lines, frames, border shadows and specks dropped, the digit's components grouped;
//   here        stroke width brought into MNIST's range, the ink cropped, fitted into 20×20 keeping
//               the aspect ratio (area-averaged), pasted into 28×28 with the centre of mass at the centre.
import { analyse, ImageError, inkMapOf, NO_DIGIT, type AnalyseOptions, type InkMap, type Picture } from './ink';
import { boxOf, components, digitGroup, keepStrokes, removeLines, rowGroups, strokeWidth, type Box, type Component } from './strokes';
import { dilate, erode, resize } from './resample';

export { ImageError, inkMap, NO_DIGIT, WORK_PIXELS, type AnalyseOptions, type InkMap, type Picture } from './ink';

/** A grayscale picture, values 0..255, row-major (a Picture with one channel). */
export type Gray = Picture;

export const SIZE = 28;
const BOX = 20;
// MNIST's mean centre of mass, measured over the 10,000 test digits, in pixel-index coordinates
const CENTRE = 14;
// MNIST's stroke width as a share of the digit's longer side (2·area / outline, the estimator in
// strokes.ts), measured on test digits drawn large: 5th percentile 0.082, median 0.104, 99th 0.165.
// Widths outside [low, high] are brought to `thin` or `bold`, MNIST's typical and bolder-side widths.
export const STROKE = { low: 0.06, thin: 0.12, bold: 0.13, high: 0.175 };
// stroke corrections happen on a crop with the longer side this long (4× the 20-pixel box)
const MID = 4 * BOX;

const clamp = (v: number, lo: number, hi: number) => Math.max(lo, Math.min(hi, v));

/** RGBA composited on white, then luma (Rec. 601). Kept for callers that want gray; preprocess takes colour itself. */
export function rgbaToGray(rgba: ArrayLike<number>, width: number, height: number): Picture {
  const out = new Uint8ClampedArray(width * height);
  for (let i = 0, j = 0; i < out.length; i++, j += 4) {
    const a = rgba[j + 3] / 255;
    out[i] = a * (0.299 * rgba[j] + 0.587 * rgba[j + 1] + 0.114 * rgba[j + 2]) + (1 - a) * 255;
  }
  return { width, height, data: out };
}

function crop(ink: Float32Array, width: number, b: Box): Float32Array {
  const w = b.x1 - b.x0 + 1,
    h = b.y1 - b.y0 + 1;
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++) out.set(ink.subarray((b.y0 + y) * width + b.x0, (b.y0 + y) * width + b.x0 + w), y * w);
  return out;
}

/** The box of the values above `t`. */
function inkBox(a: Float32Array, w: number, h: number, t: number): Box {
  let x0 = w,
    x1 = -1,
    y0 = h,
    y1 = -1;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      if (a[y * w + x] > t) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
  return x1 < 0 ? { x0: 0, x1: w - 1, y0: 0, y1: h - 1 } : { x0, x1, y0, y1 };
}

/**
 * A digit's strokes brought into MNIST's width range: strokes thinner than MNIST's thinnest tenth are
 * widened to its typical width (a 1-pixel pen on a large canvas), bolder than its boldest twentieth are
 * thinned (a marker that would fill the loops). Returns the corrected crop and its size.
 */
function normaliseStrokes(a: Float32Array, bw: number, bh: number): { a: Float32Array; w: number; h: number } {
  const rel = strokeWidth(a, bw, bh, { x0: 0, x1: bw - 1, y0: 0, y1: bh - 1 }) / Math.max(bw, bh);
  if (!(rel > 0) || (rel >= STROKE.low && rel <= STROKE.high)) return { a, w: bw, h: bh };
  // on a MID-sized copy (area-averaged down, or bilinear up for small pictures), with room to grow
  const s = MID / Math.max(bw, bh);
  const mw = Math.max(1, Math.round(bw * s)),
    mh = Math.max(1, Math.round(bh * s));
  const small = resize(a, bw, bh, mw, mh);
  const pad = Math.ceil(STROKE.bold * MID);
  const pw = mw + 2 * pad,
    ph = mh + 2 * pad;
  let p: Float32Array = new Float32Array(pw * ph);
  for (let y = 0; y < mh; y++) p.set(small.subarray(y * mw, (y + 1) * mw), (y + pad) * pw + pad);
  // a stroke thinner than a pixel here comes out faint: bring it to full strength first
  const level = strongLevel(p);
  if (level > 0 && level < 1) for (let i = 0; i < p.length; i++) p[i] = Math.min(1, p[i] / level);
  const cur = rel * MID;
  if (rel < STROKE.low) p = dilate(p, pw, ph, (STROKE.thin * MID - Math.max(1, cur)) / 2);
  else p = erode(p, pw, ph, (cur - STROKE.bold * MID) / 2);
  const b = inkBox(p, pw, ph, 0.02);
  return { a: crop(p, pw, b), w: b.x1 - b.x0 + 1, h: b.y1 - b.y0 + 1 };
}

/** The strokes' full strength: the upper quartile of the values at least 40% of the 95th percentile of the nonzero ones. */
function strongLevel(values: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < values.length; i++) if (values[i] > 0) n++;
  const vals = new Float32Array(n);
  for (let i = 0, k = 0; i < values.length; i++) if (values[i] > 0) vals[k++] = values[i];
  return strongOf(vals);
}

/**
 * The strong population's level: the values at least 40% of the 95th percentile, their upper quartile
 * (the order statistics of the sorted values, found by selection: linear time, and `vals` is reordered).
 */
function strongOf(vals: Float32Array): number {
  const n = vals.length;
  if (n === 0) return 0;
  const cut = 0.4 * kth(vals, Math.floor(0.95 * (n - 1)));
  let lo = 0;
  for (let i = 0; i < n; i++) if (vals[i] < cut) lo++;
  return kth(vals, lo + Math.floor(0.75 * (n - lo - 1)));
}

/** The k-th smallest value (0-based), by Hoare's selection with a median-of-three pivot; reorders `a`. */
function kth(a: Float32Array, k: number): number {
  let lo = 0,
    hi = a.length - 1;
  while (hi > lo) {
    const mid = (lo + hi) >> 1;
    // median of three as the pivot: sorted or constant runs stay linear
    const x = a[lo],
      y = a[mid],
      z = a[hi];
    const pivot = x < y ? (y < z ? y : x < z ? z : x) : x < z ? x : y < z ? z : y;
    let i = lo,
      j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        const t = a[i];
        a[i] = a[j];
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return a[k];
  }
  return a[k];
}

/**
 * The digit at its own full strength, in place: a pencil digit beside a black frame, or one of a row
 * written lighter than the others, is scaled so that its strong pixels reach 1, as the picture's ink was.
 */
function ownStrength(a: Float32Array): Float32Array {
  const level = strongLevel(a);
  if (level > 0 && level < 0.999) for (let i = 0; i < a.length; i++) a[i] = Math.min(1, a[i] / level);
  return a;
}

/** Fit a crop into 20×20 keeping the aspect ratio, centre the mass in 28×28. Values in [0, 1]. */
function place(crop: Float32Array, w: number, h: number): Float32Array {
  const s = BOX / Math.max(w, h);
  const dw = Math.max(1, Math.round(w * s)),
    dh = Math.max(1, Math.round(h * s));
  const small = resize(crop, w, h, dw, dh);
  let max = 0,
    mass = 0,
    mx = 0,
    my = 0;
  for (let y = 0; y < dh; y++)
    for (let x = 0; x < dw; x++) {
      const v = small[y * dw + x];
      max = Math.max(max, v);
      mass += v;
      mx += x * v;
      my += y * v;
    }
  // thin strokes shrunk from a large image come out grey; MNIST's strokes always reach full white
  const gain = max > 0 ? 1 / max : 0;
  // a lopsided digit (a 7's heavy bar) would be pushed off the edge: keep the whole box inside
  const ox = clamp(Math.round(CENTRE - mx / mass), 0, SIZE - dw),
    oy = clamp(Math.round(CENTRE - my / mass), 0, SIZE - dh);
  const out = new Float32Array(SIZE * SIZE);
  for (let y = 0; y < dh; y++) for (let x = 0; x < dw; x++) out[(y + oy) * SIZE + x + ox] = Math.min(1, small[y * dw + x] * gain);
  return out;
}

/** A crop of the components' ink (nothing else) inside their box. */
function cropOf(s: Strokes, cs: Component[]): { a: Float32Array; w: number; h: number } {
  const b = boxOf(cs),
    w = b.x1 - b.x0 + 1,
    h = b.y1 - b.y0 + 1;
  const keep = new Uint8Array(s.all + 1);
  for (const c of cs) keep[c.id] = 1;
  const a = new Float32Array(w * h);
  for (let y = 0; y < h; y++)
    for (let x = 0, i = (b.y0 + y) * s.width + b.x0; x < w; x++, i++) if (keep[s.labels[i]]) a[y * w + x] = s.ink[i];
  return { a, w, h };
}

/** A digit's crop as MNIST's 28×28: at its own strength, strokes normalised, fitted into 20×20, centred by mass. */
export function toMnist(crop: Float32Array, w: number, h: number): Float32Array {
  const n = normaliseStrokes(ownStrength(crop), w, h);
  return place(n.a, n.w, n.h);
}

const digitOf = (s: Strokes, cs: Component[]) => {
  const c = cropOf(s, cs);
  return toMnist(c.a, c.w, c.h);
};

interface Strokes {
  ink: Float32Array;
  width: number;
  height: number;
  labels: Int32Array;
  kept: Component[];
  all: number;
}

/** The strokes that matter in an ink map: without rules, frames, border shadows and specks, in components. */
function segment(map: InkMap): Strokes {
  const { width, height } = map;
  const ink = removeLines(map.ink, width, height);
  const { labels, comps } = components(ink, width, height);
  const kept = keepStrokes(ink, labels, comps, width, height);
  if (kept.length === 0 || kept.reduce((m, c) => m + c.mass, 0) < 1) throw new ImageError(NO_DIGIT, 422);
  return { ink, width, height, labels, kept, all: comps.length };
}

/** The typical strength of the chosen strokes' strong pixels, where 1 is the picture's ink strength. */
function strengthIn(s: Strokes, cs: Component[]): number {
  const keep = new Uint8Array(s.all + 1);
  for (const c of cs) keep[c.id] = 1;
  const b = boxOf(cs);
  let n = 0;
  for (let y = b.y0; y <= b.y1; y++) for (let x = b.x0, i = y * s.width + x; x <= b.x1; x++, i++) if (keep[s.labels[i]]) n++;
  const vals = new Float32Array(n);
  for (let y = b.y0, k = 0; y <= b.y1; y++)
    for (let x = b.x0, i = y * s.width + x; x <= b.x1; x++, i++) if (keep[s.labels[i]]) vals[k++] = s.ink[i];
  return strongOf(vals);
}

/**
 * The picture's strokes, and of them the digit (`pick`). When the digit is much fainter than the
 * strongest ink (a pencil digit in a black frame or on dark rules, which were then dropped), the ink
 * is measured again around the digit: its colour and strength set the weights and the thresholds.
 */
function strokesOf(img: Picture, pick: (kept: Component[]) => Component[], o: AnalyseOptions = {}): { s: Strokes; picked: Component[] } {
  const inks = analyse(img, o);
  const s = segment(inkMapOf(inks));
  const picked = pick(s.kept);
  if (strengthIn(s, picked) >= 0.7) return { s, picked };
  const b = boxOf(picked),
    mx = Math.round(0.1 * (b.x1 - b.x0 + 1)),
    my = Math.round(0.1 * (b.y1 - b.y0 + 1));
  const region = {
    x0: Math.max(0, b.x0 - mx),
    x1: Math.min(s.width - 1, b.x1 + mx),
    y0: Math.max(0, b.y0 - my),
    y1: Math.min(s.height - 1, b.y1 + my),
  };
  try {
    const s2 = segment(inkMapOf(inks, region));
    return { s: s2, picked: pick(s2.kept) };
  } catch (e) {
    if (e instanceof ImageError) return { s, picked };
    throw e;
  }
}

/** One digit: the picture's digit (its heaviest strokes and those beside them) as MNIST's 28×28, values in [0, 1]. */
export function preprocess(img: Picture, o: AnalyseOptions = {}): Float32Array {
  const { s, picked } = strokesOf(img, digitGroup, o);
  return digitOf(s, picked);
}

/**
 * A row of digits, left to right: connected strokes grouped into digits (strokes.ts's rowGroups); a
 * group wider than one digit can be (1.25 × the row's height, 1.5 × the width of the row's other
 * digits) is cut where its ink is thinnest into as many digits as its width holds; each digit is
 * normalised on its own.
 */
export function preprocessRow(img: Picture, o: AnalyseOptions = {}): Float32Array[] {
  const { s } = strokesOf(img, (kept) => kept, o);
  const row = boxOf(s.kept),
    H = row.y1 - row.y0 + 1;
  const crops = rowGroups(s.kept).map((g) => cropOf(s, g));
  // a digit's width in this hand: the median of the groups that are one digit (not a 1, not too wide)
  const widths = crops
    .map((c) => c.w)
    .filter((w) => w > 0.35 * H && w <= 1.25 * H)
    .sort((a, b) => a - b);
  const pitch = widths.length > 0 ? Math.max(0.5 * H, widths[widths.length >> 1]) : 0.65 * H;
  return crops.flatMap((c) => splitWide(c, H, pitch).map((p) => toMnist(p.a, p.w, p.h)));
}

/** Touching digits in one crop, cut at the columns of least ink near where k equal digits would meet. */
function splitWide(c: { a: Float32Array; w: number; h: number }, H: number, pitch: number): { a: Float32Array; w: number; h: number }[] {
  if (c.w <= Math.max(1.25 * H, 1.5 * pitch)) return [c];
  const k = Math.max(2, Math.round(c.w / pitch));
  const prof = new Float64Array(c.w);
  for (let y = 0; y < c.h; y++) for (let x = 0; x < c.w; x++) prof[x] += c.a[y * c.w + x];
  const cuts = [0];
  for (let j = 1; j < k; j++) {
    const e = (j * c.w) / k,
      r = (0.25 * c.w) / k;
    let best = Math.round(e);
    for (let x = Math.max(cuts[cuts.length - 1] + 1, Math.ceil(e - r)); x <= Math.min(c.w - 1, Math.floor(e + r)); x++) {
      if (prof[x] < prof[best] || (prof[x] === prof[best] && Math.abs(x - e) < Math.abs(best - e))) best = x;
    }
    cuts.push(best);
  }
  cuts.push(c.w);
  const out: { a: Float32Array; w: number; h: number }[] = [];
  for (let j = 0; j < k; j++) {
    const pw = cuts[j + 1] - cuts[j];
    if (pw <= 0) continue;
    const piece = new Float32Array(pw * c.h);
    for (let y = 0; y < c.h; y++) piece.set(c.a.subarray(y * c.w + cuts[j], y * c.w + cuts[j + 1]), y * pw);
    const b = inkBox(piece, pw, c.h, 0);
    if (b.x1 < b.x0) continue;
    out.push({ a: crop(piece, pw, b), w: b.x1 - b.x0 + 1, h: b.y1 - b.y0 + 1 });
  }
  return out;
}
