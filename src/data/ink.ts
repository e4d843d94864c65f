// From a picture (gray, RGB or RGBA) to an ink map: 0 on paper, 1 at the ink's typical strength,
// whatever the light, the paper's colour or the ink's. Free of node modules: the page runs it too.
//
// 1. Each colour channel's paper is estimated locally (medians of blocks, then a grey closing over the
//    block grid, which bridges strokes up to a third of the picture wide) and divided out, so uneven
//    light, shadows and vignetting leave a flat paper at 0 and the ink as its relative darkness.
// 2. Polarity (dark ink on light paper or light on dark) is per channel: the side whose tail beyond the
//    noise carries more mass.
// 3. The channels are combined with matched-filter weights (ink strength / noise²), so blue ballpoint
//    on grey paper is read mostly in the red channel, and black ink averages all three.
// 4. Hysteresis thresholds relative to the ink's own strength: strokes are seeded where the ink is
//    strong and followed into their faint parts, while show-through, faint rulings and grain that never
//    reach half the ink's strength are left out.
import { DigitsError } from '../errors';
import { resize, shrinkBy } from './resample';

/** A picture: values 0..255, row-major, `channels` interleaved (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA; default 1). */
export interface Picture {
  width: number;
  height: number;
  channels?: number;
  data: ArrayLike<number>;
}

/** A bad image: one line, with the HTTP status the server answers with (4xx). */
export class ImageError extends DigitsError {
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
    this.name = 'ImageError';
  }
}

export const NO_DIGIT = 'no digit found: the image is blank or has too little contrast';

/** Larger pictures are area-averaged down to about this many pixels first (the server's decoder already does). */
export const WORK_PIXELS = 1 << 18;
/** Blocks across the longer side for the paper estimate, and the closing's reach in blocks. */
const GRID = 16,
  REACH = 3;
/** A block whose median is this much darker (relatively) than the closed grid is covered by a stroke. */
const INKED = 0.1;
/** Least relative contrast, and least ratio to the paper's noise, of anything called ink. */
const MIN_CONTRAST = 0.05,
  MIN_SNR = 6;

export interface InkMap {
  width: number;
  height: number;
  /** Ink in [0, 1] (1 = the ink's typical strength or more), 0 off the strokes. */
  ink: Float32Array;
  /** The paper's noise, in units of the ink's strength. */
  noise: number;
  /** Which channels carried the ink, and with what weight (for diagnostics). */
  weights: number[];
}

/** Channels as float planes with any alpha composited on white, area-averaged down to `budget` pixels. */
export function planesOf(pic: Picture, budget = WORK_PIXELS): { width: number; height: number; planes: Float32Array[] } {
  const { width, height, data } = pic;
  const ch = pic.channels ?? 1;
  const n = width * height;
  if (!(n > 0)) throw new ImageError('the image has no pixels', 422);
  if (![1, 2, 3, 4].includes(ch) || data.length < n * ch)
    throw new ImageError(`expected ${n * ch} values for ${width}x${height}x${ch}, got ${data.length}`);
  const colour = ch >= 3;
  const alpha = ch === 2 || ch === 4;
  const planes = Array.from({ length: colour ? 3 : 1 }, () => new Float32Array(n));
  let grey = true;
  if (ch === 3) {
    const [r, g, b] = planes;
    for (let i = 0, j = 0; i < n; i++, j += 3) {
      r[i] = data[j];
      g[i] = data[j + 1];
      b[i] = data[j + 2];
      if (grey && (data[j] !== data[j + 1] || data[j] !== data[j + 2])) grey = false;
    }
  } else if (ch === 1) {
    for (let i = 0; i < n; i++) planes[0][i] = data[i];
  } else {
    for (let i = 0, j = 0; i < n; i++, j += ch) {
      const a = alpha ? data[j + ch - 1] / 255 : 1;
      for (let c = 0; c < planes.length; c++) planes[c][i] = a * data[j + c] + (1 - a) * 255;
      if (colour && grey && (data[j] !== data[j + 1] || data[j] !== data[j + 2])) grey = false;
    }
  }
  // a gray picture stored as RGB (a canvas) is one channel: a third of the work
  let ps: Float32Array[] = colour && grey ? [planes[0]] : planes;
  let w = width,
    h = height;
  if (n > budget) {
    const s = Math.sqrt(budget / n);
    w = Math.max(1, Math.round(width * s));
    h = Math.max(1, Math.round(height * s));
    ps = ps.map((p) => resize(p, width, height, w, h));
  }
  return { width: w, height: h, planes: ps };
}

/** Per-block medians over a grid of about GRID blocks along the longer side. */
function blockMedians(p: Float32Array, w: number, h: number) {
  const B = Math.max(2, Math.ceil(Math.max(w, h) / GRID));
  const cols = Math.ceil(w / B),
    rows = Math.ceil(h / B);
  const hist = new Uint32Array(cols * rows * 256);
  const count = new Uint32Array(cols * rows);
  const step = B >= 16 ? 2 : 1; // a quarter of the pixels is plenty for a median of a large block
  for (let y = 0; y < h; y += step) {
    const by = ((y / B) | 0) * cols;
    for (let x = 0; x < w; x += step) {
      const b = by + ((x / B) | 0);
      hist[b * 256 + clamp255(p[y * w + x])]++;
      count[b]++;
    }
  }
  const med = new Float32Array(cols * rows);
  for (let b = 0; b < cols * rows; b++) {
    // a last block one pixel thin may have been stepped over: it is its neighbour's paper
    if (count[b] === 0) {
      med[b] = b >= cols ? med[b - cols] : b > 0 ? med[b - 1] : 255;
      continue;
    }
    const half = count[b] / 2;
    let acc = 0,
      v = 0;
    for (; v < 255; v++) {
      acc += hist[b * 256 + v];
      if (acc >= half) break;
    }
    med[b] = v;
  }
  return { B, cols, rows, med };
}

const clamp255 = (v: number) => (v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v));

/** Min, max or median over a (2r+1)² neighbourhood of a small grid (edges clamped). */
function gridFilter(g: Float32Array, cols: number, rows: number, r: number, op: 'min' | 'max' | 'median'): Float32Array {
  const out = new Float32Array(g.length);
  const buf = new Float32Array((2 * r + 1) ** 2);
  for (let y = 0; y < rows; y++)
    for (let x = 0; x < cols; x++) {
      let n = 0,
        m = op === 'min' ? Infinity : -Infinity;
      for (let dy = -r; dy <= r; dy++) {
        const Y = Math.max(0, Math.min(rows - 1, y + dy)) * cols;
        for (let dx = -r; dx <= r; dx++) {
          const v = g[Y + Math.max(0, Math.min(cols - 1, x + dx))];
          if (op === 'min') {
            if (v < m) m = v;
          } else if (op === 'max') {
            if (v > m) m = v;
          } else buf[n++] = v;
        }
      }
      out[y * cols + x] = op === 'median' ? buf.sort()[n >> 1] : m;
    }
  return out;
}

/**
 * A quadratic surface through the grid's paper blocks (least squares, then again without the blocks
 * far on the ink's side of it, three times): the light over the page, whatever is written on it.
 */
function smoothFit(g: Float32Array, cols: number, rows: number, isDark: boolean): Float32Array {
  const n = g.length;
  const basis = (b: number) => {
    const u = ((b % cols) + 0.5) / cols - 0.5,
      v = (((b / cols) | 0) + 0.5) / rows - 0.5;
    return [1, u, v, u * u, u * v, v * v];
  };
  const rows6 = Array.from({ length: n }, (_v, b) => basis(b));
  let use = new Uint8Array(n).fill(1);
  let coef = [0, 0, 0, 0, 0, 0];
  for (let iter = 0; iter < 4; iter++) {
    const A = Array.from({ length: 6 }, () => new Float64Array(7));
    let count = 0;
    for (let b = 0; b < n; b++) {
      if (!use[b]) continue;
      count++;
      const f = rows6[b];
      for (let i = 0; i < 6; i++) {
        for (let j = 0; j < 6; j++) A[i][j] += f[i] * f[j];
        A[i][6] += f[i] * g[b];
      }
    }
    if (count < 6) break;
    for (let i = 0; i < 6; i++) A[i][i] += 1e-6 * count; // a grid one block high cannot fix v²
    coef = solve(A);
    const res = Array.from(g, (m, b) => m - rows6[b].reduce((a, f, i) => a + f * coef[i], 0));
    const mad = [...res].map(Math.abs).sort((a, c) => a - c)[n >> 1] * 1.4826;
    const t = Math.max(2.5 * mad, 2);
    use = Uint8Array.from(res, (r) => ((isDark ? -r : r) < t ? 1 : 0));
  }
  return Float32Array.from(rows6, (f) => f.reduce((a, x, i) => a + x * coef[i], 0));
}

/** Gaussian elimination with partial pivoting on an augmented 6×7 system. */
function solve(A: Float64Array[]): number[] {
  const m = A.length;
  for (let c = 0; c < m; c++) {
    let p = c;
    for (let r = c + 1; r < m; r++) if (Math.abs(A[r][c]) > Math.abs(A[p][c])) p = r;
    [A[c], A[p]] = [A[p], A[c]];
    if (Math.abs(A[c][c]) < 1e-12) continue;
    for (let r = 0; r < m; r++) {
      if (r === c) continue;
      const f = A[r][c] / A[c][c];
      for (let k = c; k <= m; k++) A[r][k] -= f * A[c][k];
    }
  }
  return A.map((row, i) => (Math.abs(row[i]) < 1e-12 ? 0 : row[m] / row[i]));
}

/**
 * Where pixel coordinate v falls between block centres: the lower block and the fraction towards the
 * next. Beyond the outer centres the fraction runs past 0 or 1, extrapolating the light's slope to the
 * picture's edge (a vignetted corner is darker still than its block's centre).
 */
function cell(v: number, B: number, n: number): [number, number] {
  if (n === 1) return [0, 0];
  const g = (v + 0.5) / B - 0.5;
  const i = Math.max(0, Math.min(n - 2, Math.floor(g)));
  return [i, Math.max(-0.5, Math.min(1.5, g - i))];
}

/** A grid's values at block centres, bilinearly interpolated (extrapolated at the edges) at pixel (x, y). */
function at(g: Float32Array, cols: number, rows: number, B: number, x: number, y: number): number {
  // cell() inlined: this runs for every sampled pixel of every channel
  let x0 = 0,
    fx = 0,
    y0 = 0,
    fy = 0;
  if (cols > 1) {
    const gx = (x + 0.5) / B - 0.5;
    x0 = Math.max(0, Math.min(cols - 2, Math.floor(gx)));
    fx = Math.max(-0.5, Math.min(1.5, gx - x0));
  }
  if (rows > 1) {
    const gy = (y + 0.5) / B - 0.5;
    y0 = Math.max(0, Math.min(rows - 2, Math.floor(gy)));
    fy = Math.max(-0.5, Math.min(1.5, gy - y0));
  }
  const x1 = Math.min(cols - 1, x0 + 1),
    y1 = Math.min(rows - 1, y0 + 1);
  return (g[y0 * cols + x0] * (1 - fx) + g[y0 * cols + x1] * fx) * (1 - fy) + (g[y1 * cols + x0] * (1 - fx) + g[y1 * cols + x1] * fx) * fy;
}

/** Quantiles of a sample of values in [-2, 2] through a fine histogram (exact enough, and linear time). */
class Hist {
  private readonly bins = new Uint32Array(4001);
  n = 0;
  add(v: number): void {
    this.bins[Math.max(0, Math.min(4000, Math.round((v + 2) * 1000)))]++;
    this.n++;
  }
  quantile(q: number): number {
    let acc = 0;
    for (let i = 0; i < this.bins.length; i++) {
      acc += this.bins[i];
      if (acc > q * this.n) return i / 1000 - 2;
    }
    return 2;
  }
}

const NOISE_FLOOR = 0.004;

/** Robust noise (1.4826 × MAD) of some values. */
function noiseOf(d: ArrayLike<number>): number {
  // more than half in the histogram's zero bin (flat paper): the median and its deviation are 0
  let zeros = 0;
  for (let i = 0; i < d.length; i++) if (Math.round((d[i] + 2) * 1000) === 2000) zeros++;
  if (zeros > d.length / 2) return NOISE_FLOOR;
  const h = new Hist();
  for (let i = 0; i < d.length; i++) h.add(d[i]);
  const med = h.quantile(0.5);
  const dev = new Hist();
  for (let i = 0; i < d.length; i++) dev.add(Math.abs(d[i] - med));
  // a synthetic picture has no noise at all: one grey level is the floor
  return Math.max(1.4826 * dev.quantile(0.5), NOISE_FLOOR);
}

/** A region of the picture, inclusive pixel bounds. */
export interface Region {
  x0: number;
  x1: number;
  y0: number;
  y1: number;
}

/**
 * The ink's typical strength among sampled values (those whose pixel lies in `region`), and how many
 * are clearly beyond the noise. Among those, the strong population (at least 40% of their 95th
 * percentile) is the writing; its upper quartile is full strength. Faint rules or show-through,
 * however many pixels they cover, do not set the scale.
 */
function strengthOf(d: Float32Array, sigma: number, inRegion: Uint8Array | null): { level: number; count: number } {
  const t = Math.max(4 * sigma, 0.06);
  const h = new Hist();
  for (let i = 0; i < d.length; i++) if (d[i] > t && (!inRegion || inRegion[i])) h.add(d[i]);
  if (h.n === 0) return { level: 0, count: 0 };
  const strong = 0.4 * h.quantile(0.95);
  if (strong <= t) return { level: h.quantile(0.75), count: h.n };
  const s = new Hist();
  for (let i = 0; i < d.length; i++) if (d[i] >= strong && (!inRegion || inRegion[i])) s.add(d[i]);
  return { level: s.quantile(0.75), count: h.n };
}

/** One channel: its paper (a block grid), its polarity, and its ink at the sampled pixels. */
interface Channel {
  plane: Float32Array;
  grid: Float32Array;
  cols: number;
  rows: number;
  B: number;
  dark: boolean;
  sample: Float32Array;
  sigma: number;
}

/** Relative ink darkness (or lightness) of value v over paper bg. */
const inkOf = (dark: boolean, v: number, bg: number) => (dark ? (bg - v) / Math.max(bg, 24) : (v - bg) / 255);

function channelInk(p: Float32Array, w: number, h: number, samples: Int32Array): Channel {
  const g = blockMedians(p, w, h);
  const { cols, rows, B } = g;
  // polarity from a neutral paper estimate (median over the grid): which tail is the ink's?
  const neutral = gridFilter(g.med, cols, rows, REACH, 'median');
  const res = new Float32Array(samples.length);
  for (let k = 0; k < samples.length; k++) {
    const i = samples[k],
      y = (i / w) | 0;
    res[k] = (p[i] - at(neutral, cols, rows, B, i - y * w, y)) / 255;
  }
  const s0 = noiseOf(res);
  let darkTail = 0,
    lightTail = 0;
  for (let k = 0; k < res.length; k++) {
    const r = res[k];
    if (r < -3 * s0) darkTail += -r - 3 * s0;
    else if (r > 3 * s0) lightTail += r - 3 * s0;
  }
  const dark = darkTail >= lightTail;
  // the paper: block medians, except blocks a stroke covers (far darker, or lighter, than a closing or
  // opening of the grid says the paper is there), which take their paper neighbours' median
  const [first, second] = dark ? (['max', 'min'] as const) : (['min', 'max'] as const);
  const closed = gridFilter(gridFilter(g.med, cols, rows, REACH, first), cols, rows, REACH, second);
  // a closing is exact for ramps and steps of light but overshoots where light falls off towards the
  // picture's edge (vignetting); a smooth surface fitted to the paper blocks follows that: a block is
  // covered by a stroke only when it is far darker than both
  const fit = smoothFit(g.med, cols, rows, dark);
  const inked = g.med.map((m, b) => (inkOf(dark, m, closed[b]) > INKED && inkOf(dark, m, fit[b]) > INKED ? 1 : 0));
  const grid = g.med.map((m, b) => {
    if (!inked[b]) return m;
    const x = b % cols,
      y = (b / cols) | 0,
      near: number[] = [];
    for (let r = 1; r <= REACH && near.length === 0; r++) {
      for (let dy = -r; dy <= r; dy++)
        for (let dx = -r; dx <= r; dx++) {
          const X = x + dx,
            Y = y + dy;
          if (X >= 0 && Y >= 0 && X < cols && Y < rows && !inked[Y * cols + X]) near.push(g.med[Y * cols + X]);
        }
    }
    near.sort((a, c) => a - c);
    return near.length > 0 ? near[near.length >> 1] : closed[b];
  });
  const sample = new Float32Array(samples.length);
  for (let k = 0; k < samples.length; k++) {
    const i = samples[k],
      y = (i / w) | 0;
    sample[k] = inkOf(dark, p[i], at(grid, cols, rows, B, i - y * w, y));
  }
  return { plane: p, grid, cols, rows, B, dark, sample, sigma: noiseOf(sample) };
}

/** Each channel's paper, polarity and sampled ink: the costly part, done once per picture. */
export interface Inks {
  width: number;
  height: number;
  chans: Channel[];
  samples: Int32Array;
}

/** Statistics come from a sample of about 20,000 pixels on a regular lattice (every pixel of a small picture). */
function lattice(width: number, height: number): Int32Array {
  const stride = Math.max(1, Math.round(Math.sqrt((width * height) / 20000)));
  const samples = new Int32Array(Math.ceil(height / stride) * Math.ceil(width / stride));
  let k = 0;
  for (let y = 0; y < height; y += stride) for (let x = 0; x < width; x += stride) samples[k++] = y * width + x;
  return samples;
}

/** How a picture is analysed: `flatPaper: false` takes the full path even for a drawing (to compare the two). */
export interface AnalyseOptions {
  budget?: number;
  flatPaper?: boolean;
}

export function analyse(pic: Picture, o: AnalyseOptions = {}): Inks {
  const flat = o.flatPaper !== false ? flatPaper(pic, o.budget ?? WORK_PIXELS) : null;
  if (flat) return flat;
  const { width, height, planes } = planesOf(pic, o.budget ?? WORK_PIXELS);
  const samples = lattice(width, height);
  return { width, height, chans: planes.map((p) => channelInk(p, width, height, samples)), samples };
}

/**
 * The digit's height worth working at: twice the 20-pixel box it ends up in, so each output pixel still
 * averages 2×2 worked ones (80 gave the same readings for four times the work: bench/flat-paper.ts).
 */
const DIGIT_WORK = 40;
/** Strokes keep at least this width (pixels) when a drawing is worked smaller: thinner ones fade into the paper. */
const STROKE_WORK = 3;

// The passes over a whole picture below call a function per row: a function called once per picture
// with one long loop runs as on-stack-replaced code, which V8 threw away at the loop's end on every call
// in the server's workers (--trace-deopt), leaving the rest to the interpreter.

/** A histogram of every q-th pixel of every q-th row (values clamped to 0..255), and how many it counts. */
function latticeHistogram(d: ArrayLike<number>, w: number, h: number, q: number): { hist: Uint32Array; m: number } {
  const hist = new Uint32Array(256);
  let m = 0;
  for (let y = 0; y < h; y += q) m += histogramRow(d, y * w, w, q, hist);
  return { hist, m };
}

function histogramRow(d: ArrayLike<number>, i: number, w: number, q: number, hist: Uint32Array): number {
  let m = 0;
  for (let x = 0; x < w; x += q, i += q, m++) hist[clamp255(d[i])]++;
  return m;
}

/** Whether every pixel on the picture's edge is within 2 of P. */
function edgeIs(d: ArrayLike<number>, w: number, h: number, P: number): boolean {
  for (let x = 0; x < w; x++) if (Math.abs(d[x] - P) > 2 || Math.abs(d[(h - 1) * w + x] - P) > 2) return false;
  for (let y = 1; y < h - 1; y++) if (Math.abs(d[y * w] - P) > 2 || Math.abs(d[y * w + w - 1] - P) > 2) return false;
  return true;
}

/**
 * The strokes at half contrast (sign·(v − P) ≥ half) on the lattice: the first and last rows they are in,
 * and their area and outline in lattice pixels (their width is 2·area / outline), row by row.
 */
function strokeRows(
  d: ArrayLike<number>,
  w: number,
  h: number,
  q: number,
  P: number,
  sign: number,
  half: number,
): { y0: number; y1: number; area: number; outline: number } {
  const lw = Math.ceil(w / q);
  let prev = new Uint8Array(lw),
    cur = new Uint8Array(lw);
  let y0 = h,
    y1 = -1,
    area = 0,
    outline = 0;
  for (let y = 0; y < h; y += q) {
    const inRow = strokeRow(d, y * w, lw, q, P, sign, half, cur);
    outline += rowOutline(cur, y > 0 ? prev : null, lw);
    [prev, cur] = [cur, prev];
    if (inRow === 0) continue;
    area += inRow;
    if (y < y0) y0 = y;
    y1 = y;
  }
  return { y0, y1, area, outline };
}

/** One lattice row's stroke pixels (1) marked in `cur`, and how many there are. */
function strokeRow(d: ArrayLike<number>, i: number, lw: number, q: number, P: number, sign: number, half: number, cur: Uint8Array): number {
  let inRow = 0;
  for (let x = 0; x < lw; x++, i += q) {
    const a = sign * (d[i] - P) >= half ? 1 : 0;
    cur[x] = a;
    inRow += a;
  }
  return inRow;
}

/** The stroke edges a row adds to the outline: between neighbours in it, and to the row above. */
function rowOutline(cur: Uint8Array, prev: Uint8Array | null, lw: number): number {
  let outline = 0;
  for (let x = 1; x < lw; x++) outline += cur[x] ^ cur[x - 1];
  if (prev) for (let x = 0; x < lw; x++) outline += cur[x] ^ prev[x];
  return outline;
}

/** The ink over flat paper P at the sampled pixels. */
function inkAt(plane: Float32Array, samples: Int32Array, dark: boolean, P: number): Float32Array {
  const sample = new Float32Array(samples.length);
  for (let k = 0; k < samples.length; k++) sample[k] = inkOf(dark, plane[samples[k]], P);
  return sample;
}

/** The first n values as float32. */
function floats(d: ArrayLike<number>, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = d[i];
  return out;
}

/**
 * A drawing on flat paper (a canvas, a paint program; one grey channel, no larger than the budget once shrunk, at
 * least half of the pixels at exactly one value, the picture's edge all paper): the paper is that value
 * everywhere, so the paper estimate (block medians, closings, a fitted surface) is skipped, and the
 * picture is area-averaged down by a whole factor until the digit is about DIGIT_WORK pixels tall
 * (strokes no thinner than STROKE_WORK): a 280-pixel canvas's 200-pixel digit is worked at 40 pixels,
 * twice the 20 it ends up as, for a 25th of the work. Null for anything else (photos, scans,
 * coloured ink), which takes the full path.
 */
function flatPaper(pic: Picture, budget: number): Inks | null {
  const { width: w, height: h, data: d } = pic;
  const n = w * h;
  if ((pic.channels ?? 1) !== 1 || !(n > 0) || d.length < n) return null;
  // the statistics below read a lattice of every q-th pixel (a quarter of a 280-pixel canvas's)
  const q = Math.max(1, Math.floor(Math.min(w, h) / 128));
  const { hist, m } = latticeHistogram(d, w, h, q);
  let P = 0;
  for (let v = 1; v < 256; v++) if (hist[v] > hist[P]) P = v;
  if (hist[P] < 0.5 * m) return null;
  // the picture's edge all paper: a stroke or a shadow reaching it is not a clean drawing
  if (!edgeIs(d, w, h, P)) return null;
  // polarity: the side carrying more of the mass away from the paper
  let darkMass = 0,
    lightMass = 0;
  for (let v = 0; v < P; v++) darkMass += hist[v] * (P - v);
  for (let v = P + 1; v < 256; v++) lightMass += hist[v] * (v - P);
  const dark = darkMass >= lightMass;
  let C = 0;
  for (let v = 0; v < 256; v++) if (hist[v] > 0 && (dark ? P - v : v - P) > C) C = dark ? P - v : v - P;
  if (C < 8) return null; // next to nothing drawn: the full path says so in its words
  const { y0, y1, area, outline } = strokeRows(d, w, h, q, P, dark ? -1 : 1, 0.5 * C);
  if (area === 0 || outline === 0) return null;
  // shrunk by a whole factor f (an exact area average, one pass): the digit ends up 2/3 to 4/3 of
  // DIGIT_WORK tall, strokes no thinner than STROKE_WORK
  const f = Math.max(1, Math.min(Math.round((y1 - y0 + q) / DIGIT_WORK), Math.floor((2 * q * area) / outline / STROKE_WORK)));
  // a picture larger than the budget may take this path when its shrunk copy fits it (a retina canvas, a large scan of a drawing)
  if (Math.ceil(w / f) * Math.ceil(h / f) > budget) return null;
  const b = f >= 2 ? shrinkBy(d, w, h, f, P) : { data: floats(d, n), width: w, height: h };
  const { data: plane, width: W, height: H } = b;
  const samples = lattice(W, H);
  const sample = inkAt(plane, samples, dark, P);
  const chan = { plane, grid: Float32Array.of(P), cols: 1, rows: 1, B: Math.max(W, H), dark, sample, sigma: noiseOf(sample) };
  return { width: W, height: H, chans: [chan], samples };
}

/** The ink map of a picture, or a 422 ImageError when nothing in it stands out from the paper. */
export function inkMap(pic: Picture, o: AnalyseOptions = {}): InkMap {
  return inkMapOf(analyse(pic, o));
}

/**
 * The ink map from analysed channels. The channels' weights and the ink's strength come from `region`
 * (all of the picture by default; the digit's surroundings when a black frame or dark rules would
 * otherwise set the scale for a pencil digit); thresholds then apply to all of the picture.
 */
export function inkMapOf(inks: Inks, region?: Region): InkMap {
  const { width: w, height: h, samples } = inks;
  let inRegion: Uint8Array | null = null;
  if (region) {
    inRegion = new Uint8Array(samples.length);
    for (let k = 0; k < samples.length; k++) {
      const y = (samples[k] / w) | 0,
        x = samples[k] - y * w;
      inRegion[k] = x >= region.x0 && x <= region.x1 && y >= region.y0 && y <= region.y1 ? 1 : 0;
    }
  }
  const chans = inks.chans.map((c) => ({ ...c, ...strengthOf(c.sample, c.sigma, inRegion) }));
  const snr = chans.map((c) => (c.count > 0 ? c.level / c.sigma : 0));
  const best = Math.max(...snr);
  if (!(best > 0)) throw new ImageError(NO_DIGIT, 422);
  // matched filter: weight each channel by its ink strength over its noise variance
  const wts = chans.map((c, i) => (snr[i] >= 0.25 * best ? c.level / (c.sigma * c.sigma) : 0));
  const total = wts.reduce((a, b) => a + b, 0);
  // a channel carrying under a tenth of the weight adds little but work
  const major = wts.map((x) => (x >= 0.1 * total ? x : 0)),
    sum = major.reduce((a, b) => a + b, 0);
  const used = chans.map((c, i) => ({ c, k: major[i] / sum })).filter((u) => u.k > 0);
  // one channel alone (a grey picture) is its own combination: its noise and strength are measured already
  let sigma = used[0].c.sigma,
    level = used[0].c.level;
  if (used.length > 1 || used[0].k !== 1) {
    const S = new Float32Array(samples.length);
    for (const { c, k } of used) for (let i = 0; i < S.length; i++) S[i] += k * c.sample[i];
    sigma = noiseOf(S);
    level = strengthOf(S, sigma, inRegion).level;
  }
  if (level < MIN_CONTRAST || level < MIN_SNR * sigma) throw new ImageError(NO_DIGIT, 422);
  const noise = sigma / level;
  // the combined ink at every pixel, each channel's paper interpolated along the row
  const D = new Float32Array(w * h);
  for (const { c, k } of used) {
    const { plane, grid, cols, rows, B, dark } = c;
    if (cols === 1 && rows === 1) {
      // flat paper (one value everywhere): what the interpolation below gives, without it
      const bg = grid[0],
        over = dark ? Math.max(bg, 24) : 255;
      for (let i = 0; i < D.length; i++) D[i] += k * ((dark ? bg - plane[i] : plane[i] - bg) / over);
      continue;
    }
    const xi = new Int32Array(w),
      xf = new Float32Array(w),
      line = new Float32Array(cols);
    for (let x = 0; x < w; x++) [xi[x], xf[x]] = cell(x, B, cols);
    for (let y = 0; y < h; y++) {
      const [y0, fy] = cell(y, B, rows),
        y1 = Math.min(rows - 1, y0 + 1);
      for (let j = 0; j < cols; j++) line[j] = grid[y0 * cols + j] * (1 - fy) + grid[y1 * cols + j] * fy;
      for (let x = 0, i = y * w; x < w; x++, i++) {
        const j = xi[x],
          bg = line[j] * (1 - xf[x]) + line[Math.min(cols - 1, j + 1)] * xf[x];
        D[i] += k * (dark ? (bg - plane[i]) / Math.max(bg, 24) : (plane[i] - bg) / 255);
      }
    }
  }
  // hysteresis: seeds at 40% of the ink's strength, grown through 30% of it (a ballpoint's faint
  // stretches), then a fringe of two pixels down to the noise (anti-aliased edges). Show-through and
  // faint rules that never reach 40% of the ink's strength, or only touch a stroke, stay out.
  const hi = Math.max(0.4, 5 * noise) * level,
    grow = Math.max(0.3, 4 * noise) * level;
  const lo = Math.max(0.05, 3 * noise) * level;
  const ink = new Float32Array(w * h);
  const stack = new Int32Array(w * h);
  const scale = 1 / (level - lo);
  const value = (v: number) => Math.min(1, (v - lo) * scale);
  for (let s = 0; s < D.length; s++) {
    if (D[s] < hi || ink[s] > 0) continue;
    let sp = 0;
    stack[sp++] = s;
    ink[s] = value(D[s]);
    while (sp > 0) {
      const p = stack[--sp];
      const y = (p / w) | 0,
        x = p - y * w;
      for (let dy = y > 0 ? -1 : 0; dy <= (y < h - 1 ? 1 : 0); dy++)
        for (let dx = x > 0 ? -1 : 0; dx <= (x < w - 1 ? 1 : 0); dx++) {
          const q = p + dy * w + dx;
          if (ink[q] === 0 && D[q] > grow) {
            ink[q] = value(D[q]);
            stack[sp++] = q;
          }
        }
    }
  }
  // the fringe: two rings of pixels around the strokes, found from the strokes' own pixels (the ring
  // being built marked -1 until it is complete; pixel lists in typed arrays: this runs per stroke pixel)
  let front = stack,
    nf = 0;
  for (let p = 0; p < D.length; p++) if (ink[p] > 0) front[nf++] = p;
  let add = new Int32Array(w * h);
  for (let r = 0; r < 2; r++) {
    let na = 0;
    const visit = (q: number) => {
      if (ink[q] === 0 && D[q] > lo) {
        ink[q] = -1;
        add[na++] = q;
      }
    };
    for (let k = 0; k < nf; k++) {
      const p = front[k],
        y = (p / w) | 0,
        x = p - y * w;
      // left, right, up, down
      if (x > 0) visit(p - 1);
      if (x < w - 1) visit(p + 1);
      if (y > 0) visit(p - w);
      if (y < h - 1) visit(p + w);
    }
    for (let k = 0; k < na; k++) ink[add[k]] = value(D[add[k]]);
    [front, add] = [add, front];
    nf = na;
  }
  return { width: w, height: h, ink, noise, weights: wts.map((x) => x / total) };
}
