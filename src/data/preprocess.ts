// MNIST's normalisation for any grayscale picture of a digit, in plain TypeScript over raw pixels so
// the server (after sharp decodes) and the browser page (after a canvas) run the very same steps:
// polarity → white ink on black, paper noise suppressed, crop to the ink, fit into 20×20 keeping the
// aspect ratio (anti-aliased), paste into 28×28 with the centre of mass at the centre.
import { DigitsError } from '../errors';

/** A grayscale image, values 0..255, row-major. */
export interface Gray { width: number; height: number; data: ArrayLike<number> }

/** A bad image: one line, with the HTTP status the server answers with (4xx). */
export class ImageError extends DigitsError {
  constructor(message: string, readonly status = 400) { super(message); this.name = 'ImageError'; }
}

export const SIZE = 28;
const BOX = 20;
// MNIST's mean centre of mass, measured over the 10,000 test digits, in pixel-index coordinates
const CENTRE = 14;
// components lighter than this share of the heaviest are paper specks, not strokes
const SPECK = 0.01;

const clamp = (v: number, lo: number, hi: number) => Math.max(lo, Math.min(hi, v));

/** RGBA composited on white, then luma (Rec. 601): what a transparent PNG or a canvas looks like on paper. */
export function rgbaToGray(rgba: ArrayLike<number>, width: number, height: number): Gray {
  const out = new Uint8ClampedArray(width * height);
  for (let i = 0, j = 0; i < out.length; i++, j += 4) {
    const a = rgba[j + 3] / 255;
    out[i] = a * (0.299 * rgba[j] + 0.587 * rgba[j + 1] + 0.114 * rgba[j + 2]) + (1 - a) * 255;
  }
  return { width, height, data: out };
}

function otsu(hist: Float64Array, total: number): number {
  let sum = 0;
  for (let i = 0; i < 256; i++) sum += i * hist[i];
  let wB = 0, sumB = 0, best = -1, t = 0;
  for (let i = 0; i < 256; i++) {
    wB += hist[i];
    if (wB === 0 || wB === total) continue;
    sumB += i * hist[i];
    const mB = sumB / wB, mF = (sum - sumB) / (total - wB);
    const between = wB * (total - wB) * (mB - mF) ** 2;
    if (between > best) { best = between; t = i; }
  }
  return t;
}

/** The value at quantile q of the histogram's bins lo..hi. */
function quantile(hist: Float64Array, lo: number, hi: number, q: number): number {
  let n = 0;
  for (let i = lo; i <= hi; i++) n += hist[i];
  let acc = 0;
  for (let i = lo; i <= hi; i++) { acc += hist[i]; if (acc >= q * n) return i; }
  return hi;
}

/**
 * Ink intensity in [0, 1] per pixel, white-on-black. The background is the median; Otsu's threshold
 * separates it from the ink, and the ink is whichever side the background is not on (so dark ink on
 * light paper is inverted, and a grey backdrop works either way). Levels within 3σ of the paper's noise
 * go to 0 and the typical ink level to 1, which keeps anti-aliased edges of clean images intact.
 */
export function inkMap(img: Gray): Float32Array {
  const { width, height, data } = img;
  const n = width * height;
  if (n === 0) throw new ImageError('the image has no pixels', 422);
  // everything below works on the 256 levels: one lookup table maps a level to its ink value
  const q = data instanceof Uint8Array || data instanceof Uint8ClampedArray ? data : Uint8ClampedArray.from(data, Math.round);
  const hist = new Float64Array(256);
  for (let i = 0; i < n; i++) hist[q[i]]++;
  const bgRaw = quantile(hist, 0, 255, 0.5);
  const t = otsu(hist, n);
  const invert = bgRaw > t;
  const h = invert ? hist.slice().reverse() : hist;
  const bg = invert ? 255 - bgRaw : bgRaw;
  const th = invert ? 254 - t : t; // pixels above th are ink (Otsu's class boundary, mirrored)
  const dev = new Float64Array(256);
  for (let i = 0; i <= th; i++) dev[Math.abs(i - bg)] += h[i];
  const sigma = 1.4826 * quantile(dev, 0, 255, 0.5);
  let inkCount = 0;
  for (let i = th + 1; i < 256; i++) inkCount += h[i];
  const ink = quantile(h, Math.min(255, th + 1), 255, 0.5);
  if (inkCount === 0 || ink - bg < Math.max(40, 4 * sigma)) throw new ImageError('no digit found: the image is blank or has too little contrast', 422);
  const lo = Math.min(bg + 3 * sigma, th);
  const scale = 1 / Math.max(1, ink - lo);
  const lut = new Float32Array(256);
  for (let l = 0; l < 256; l++) lut[l] = clamp(((invert ? 255 - l : l) - lo) * scale, 0, 1);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lut[q[i]];
  return out;
}

interface Component { id: number; mass: number; x0: number; x1: number; y0: number; y1: number }

/** 8-connected components of the nonzero ink, with their mass and bounding boxes. */
function components(ink: Float32Array, width: number, height: number): { labels: Int32Array; comps: Component[] } {
  const labels = new Int32Array(ink.length);
  const comps: Component[] = [];
  const stack = new Int32Array(ink.length);
  for (let start = 0; start < ink.length; start++) {
    if (ink[start] === 0 || labels[start] !== 0) continue;
    // locals, not object fields, in the hot loop: this runs once per ink pixel of every request
    const id = comps.length + 1;
    let mass = 0, x0 = width, x1 = -1, y0 = height, y1 = -1, sp = 0;
    stack[sp++] = start;
    labels[start] = id;
    while (sp > 0) {
      const p = stack[--sp];
      const y = (p / width) | 0, x = p - y * width;
      mass += ink[p];
      if (x < x0) x0 = x; if (x > x1) x1 = x;
      if (y < y0) y0 = y; if (y > y1) y1 = y;
      const dxLo = x > 0 ? -1 : 0, dxHi = x < width - 1 ? 1 : 0;
      for (let dy = y > 0 ? -1 : 0, dyHi = y < height - 1 ? 1 : 0; dy <= dyHi; dy++) {
        const row = p + dy * width;
        for (let dx = dxLo; dx <= dxHi; dx++) {
          const q = row + dx;
          if (labels[q] === 0 && ink[q] !== 0) { labels[q] = id; stack[sp++] = q; }
        }
      }
    }
    comps.push({ id, mass, x0, x1, y0, y1 });
  }
  return { labels, comps };
}

/** Separable resampling: area-averaging down (anti-aliased, as sharp as a box allows), bilinear up. */
function resize(src: Float32Array, sw: number, sh: number, dw: number, dh: number): Float32Array {
  const pass = (inp: Float32Array, len: number, outLen: number, count: number, stride: number, step: number): Float32Array => {
    // resample `count` lines of `len` samples (elements `step` apart, lines `stride` apart) to `outLen`
    const out = new Float32Array(count * outLen);
    const scale = len / outLen;
    for (let j = 0; j < outLen; j++) {
      const centre = (j + 0.5) * scale - 0.5;
      const a = Math.max(0, Math.floor(centre - scale)), b = Math.min(len - 1, Math.ceil(centre + scale));
      const ws: number[] = [];
      let total = 0;
      for (let i = a; i <= b; i++) {
        // down: the share of source pixel i inside the target's footprint; up: linear interpolation
        const w = scale > 1 ? Math.max(0, Math.min(i + 1, (j + 1) * scale) - Math.max(i, j * scale)) : Math.max(0, 1 - Math.abs(i - centre));
        ws.push(w); total += w;
      }
      for (let l = 0; l < count; l++) {
        let s = 0;
        for (let i = a; i <= b; i++) s += ws[i - a] * inp[l * stride + i * step];
        out[l * outLen + j] = total > 0 ? s / total : 0;
      }
    }
    return out;
  };
  const rows = pass(src, sw, dw, sh, sw, 1); // sh lines of dw
  const cols = pass(rows, sh, dh, dw, 1, dw); // dw lines (columns) of dh, stored column-major
  const out = new Float32Array(dw * dh);
  for (let x = 0; x < dw; x++) for (let y = 0; y < dh; y++) out[y * dw + x] = cols[x * dh + y];
  return out;
}

/** Crop ink to its box, fit into 20×20 keeping the aspect ratio, centre the mass in 28×28. Values in [0, 1]. */
export function toMnist(ink: Float32Array, width: number, box: { x0: number; x1: number; y0: number; y1: number }): Float32Array {
  const w = box.x1 - box.x0 + 1, h = box.y1 - box.y0 + 1;
  const crop = new Float32Array(w * h);
  for (let y = 0; y < h; y++) crop.set(ink.subarray((box.y0 + y) * width + box.x0, (box.y0 + y) * width + box.x0 + w), y * w);
  const s = BOX / Math.max(w, h);
  const dw = Math.max(1, Math.round(w * s)), dh = Math.max(1, Math.round(h * s));
  const small = resize(crop, w, h, dw, dh);
  let max = 0, mass = 0, mx = 0, my = 0;
  for (let y = 0; y < dh; y++) for (let x = 0; x < dw; x++) {
    const v = small[y * dw + x];
    max = Math.max(max, v); mass += v; mx += x * v; my += y * v;
  }
  // thin strokes shrunk from a large image come out grey; MNIST's strokes always reach full white
  const gain = max > 0 ? 1 / max : 0;
  // a lopsided digit (a 7's heavy bar) would be pushed off the edge: keep the whole box inside
  const ox = clamp(Math.round(CENTRE - mx / mass), 0, SIZE - dw), oy = clamp(Math.round(CENTRE - my / mass), 0, SIZE - dh);
  const out = new Float32Array(SIZE * SIZE);
  for (let y = 0; y < dh; y++) for (let x = 0; x < dw; x++) {
    const X = x + ox, Y = y + oy;
    if (X >= 0 && X < SIZE && Y >= 0 && Y < SIZE) out[Y * SIZE + X] = Math.min(1, small[y * dw + x] * gain);
  }
  return out;
}

/** The strokes that matter: components of the ink map without the specks. */
function strokes(img: Gray): { ink: Float32Array; labels: Int32Array; kept: Component[]; all: number } {
  const ink = inkMap(img);
  const { labels, comps } = components(ink, img.width, img.height);
  const heaviest = comps.reduce((m, c) => Math.max(m, c.mass), 0);
  const kept = comps.filter((c) => c.mass >= SPECK * heaviest);
  if (heaviest < 1) throw new ImageError('no digit found: the image is blank or has too little contrast', 422);
  return { ink, labels, kept, all: comps.length };
}

function boxOf(cs: Component[]) {
  return { x0: Math.min(...cs.map((c) => c.x0)), x1: Math.max(...cs.map((c) => c.x1)), y0: Math.min(...cs.map((c) => c.y0)), y1: Math.max(...cs.map((c) => c.y1)) };
}

function only(ink: Float32Array, labels: Int32Array, cs: Component[], all: number): Float32Array {
  if (cs.length === all) return ink;
  const keep = new Uint8Array(all + 1);
  for (const c of cs) keep[c.id] = 1;
  const out = new Float32Array(ink.length);
  for (let i = 0; i < ink.length; i++) if (keep[labels[i]]) out[i] = ink[i];
  return out;
}

/** One digit: the whole picture's ink as MNIST's 28×28, values in [0, 1]. */
export function preprocess(img: Gray): Float32Array {
  const { ink, labels, kept, all } = strokes(img);
  return toMnist(only(ink, labels, kept, all), img.width, boxOf(kept));
}

/**
 * A row of digits, left to right: connected strokes, merged when they overlap horizontally by more
 * than half the narrower one (the two strokes of a 5, a broken 4), each normalised on its own.
 */
export function preprocessRow(img: Gray): Float32Array[] {
  const { ink, labels, kept, all } = strokes(img);
  const groups: Component[][] = [];
  for (const c of [...kept].sort((a, b) => a.x0 - b.x0)) {
    const g = groups.find((gr) => {
      const b = boxOf(gr);
      const overlap = Math.min(b.x1, c.x1) - Math.max(b.x0, c.x0) + 1;
      return overlap > 0.5 * Math.min(b.x1 - b.x0 + 1, c.x1 - c.x0 + 1);
    });
    if (g) g.push(c); else groups.push([c]);
  }
  return groups.map((g) => toMnist(only(ink, labels, g, all), img.width, boxOf(g)));
}
