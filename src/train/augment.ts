// On-the-fly data augmentation with the semantics of Keras' ImageDataGenerator (rotation_range,
// width/height_shift_range, zoom_range, fill_mode, cval): one random affine transform per image,
// drawn from the generator that fit() hands the augment hook, so a run is reproducible from --seed.
//
// The transform is Keras' apply_affine_transform: an inverse map from output to input coordinates,
// (row, col) order, about the image centre ((h - 1) / 2, (w - 1) / 2), composed as
// rotation · shift · zoom, sampled bilinearly by default (Keras' interpolation_order=1, i.e.
// scipy.ndimage.affine_transform with order=1). Because the map runs output → input, the signs read
// the Keras way: a shift of +t samples t pixels further down/right, so the content moves up/left; a
// zoom factor above 1 samples a wider area, so the digit shrinks; a positive angle turns the content
// clockwise on screen (rows grow downwards).
//
// Beyond Keras: `elastic` adds a smooth random displacement to every sampling position after the
// affine map — the "elastic distortion" Simard, Steinkraus & Platt (ICDAR 2003) found to be the most
// useful augmentation for handwriting, since it mimics the wobble of a pen. Their field is Gaussian-
// smoothed white noise; ours draws independent displacements at control points `spacing` pixels
// apart and interpolates them bilinearly, which gives the same kind of field (smooth over a few
// pixels, a pixel or so in size) at a fraction of the cost, so it stays free next to a step.
import type { Rng } from '../rng';
import { UsageError } from '../errors';

export type FillMode = 'nearest' | 'constant' | 'reflect' | 'wrap';

/** Elastic distortion: control points every `spacing` pixels move by up to ±`alpha` pixels along each axis. */
export interface Elastic {
  alpha: number;
  spacing: number;
}

/**
 * What a pen and a camera change after the shape (beyond Keras; for models that read people's digits):
 * `stroke` thins (−1: a full 4-neighbour erosion) or thickens (+1: a full dilation) by a blend drawn
 * uniformly in [stroke[0], stroke[1]]; `contrast` scales the ink by a factor in [lo, hi]; `blur` smooths
 * with a Gaussian of σ uniform in [0, blur] pixels; `noise` adds uniform noise of that standard deviation.
 */
export interface Ink {
  stroke?: [number, number];
  contrast?: [number, number];
  blur?: number;
  noise?: number;
}

export interface AugmentOptions {
  /** Degrees; the angle is uniform in [-rotationRange, rotationRange]. Keras' rotation_range. */
  rotationRange?: number;
  /** Below 1: a fraction of the width; 1 or more: pixels. Keras' width_shift_range. */
  widthShiftRange?: number;
  /** Below 1: a fraction of the height; 1 or more: pixels. Keras' height_shift_range. */
  heightShiftRange?: number;
  /** z gives factors uniform in [1 - z, 1 + z], drawn separately for rows and columns; a pair gives [lo, hi]. Keras' zoom_range. */
  zoomRange?: number | [number, number];
  /** How points outside the image are filled; Keras' default is 'nearest'. */
  fillMode?: FillMode;
  /** Fill value for fillMode 'constant'. */
  cval?: number;
  /** 'bilinear' is Keras' default (interpolation_order=1); 'nearest' is order 0. */
  interpolation?: 'bilinear' | 'nearest';
  /** Degrees; the shear angle is uniform in [-shearRange, shearRange]. Keras' shear_range. */
  shearRange?: number;
  elastic?: Elastic;
  ink?: Ink;
}

/**
 * One image's transform parameters, in Keras' names (tx along rows, ty along columns, in pixels);
 * `field`, when there is one, holds the elastic displacement of every pixel: h·w row offsets, then
 * h·w column offsets.
 */
export interface Transform {
  theta: number;
  tx: number;
  ty: number;
  zx: number;
  zy: number;
  shear?: number;
  field?: Float32Array;
}

export const IDENTITY: Transform = { theta: 0, tx: 0, ty: 0, zx: 1, zy: 1 };

export class ImageDataGenerator {
  readonly rotationRange: number;
  readonly widthShiftRange: number;
  readonly heightShiftRange: number;
  readonly zoomRange: [number, number];
  readonly fillMode: FillMode;
  readonly cval: number;
  readonly interpolation: 'bilinear' | 'nearest';
  readonly elastic: Elastic | undefined;
  readonly shearRange: number;
  readonly ink: Ink | undefined;

  constructor(o: AugmentOptions = {}) {
    this.rotationRange = nonNegative('rotationRange', o.rotationRange ?? 0);
    this.widthShiftRange = nonNegative('widthShiftRange', o.widthShiftRange ?? 0);
    this.heightShiftRange = nonNegative('heightShiftRange', o.heightShiftRange ?? 0);
    const z = o.zoomRange ?? 0;
    this.zoomRange = typeof z === 'number' ? [1 - nonNegative('zoomRange', z), 1 + z] : z;
    if (!(this.zoomRange[0] > 0 && this.zoomRange[0] <= this.zoomRange[1]))
      throw new UsageError(`zoomRange: expected 0 < lo ≤ hi, got [${this.zoomRange}]`);
    this.fillMode = o.fillMode ?? 'nearest';
    this.cval = o.cval ?? 0;
    this.interpolation = o.interpolation ?? 'bilinear';
    this.shearRange = nonNegative('shearRange', o.shearRange ?? 0);
    this.ink = o.ink && checkInk(o.ink);
    if (o.elastic) {
      const alpha = nonNegative('elastic.alpha', o.elastic.alpha);
      const spacing = o.elastic.spacing;
      if (!(Number.isFinite(spacing) && spacing >= 1))
        throw new UsageError(`elastic.spacing: expected a number of pixels ≥ 1, got ${spacing}`);
      this.elastic = alpha > 0 ? { alpha, spacing } : undefined;
    }
  }

  /** True when every range is zero, so every transform is the identity. */
  get isIdentity(): boolean {
    return (
      this.rotationRange === 0 &&
      this.widthShiftRange === 0 &&
      this.heightShiftRange === 0 &&
      this.zoomRange[0] === 1 &&
      this.zoomRange[1] === 1 &&
      this.elastic === undefined &&
      this.shearRange === 0 &&
      this.ink === undefined
    );
  }

  /**
   * Draws one transform. Always five draws in the same order (angle, row shift, column shift, row
   * zoom, column zoom), whatever the ranges, so the stream position does not depend on the options;
   * with `elastic`, the control points' displacements follow (rows, then columns). `field` is reused
   * for the displacement when given (h·w·2 floats).
   */
  randomTransform(rng: Rng, h: number, w: number, field?: Float32Array): Transform {
    const theta = rng.uniform(-this.rotationRange, this.rotationRange);
    const tx = rng.uniform(-1, 1) * (this.heightShiftRange < 1 ? this.heightShiftRange * h : this.heightShiftRange);
    const ty = rng.uniform(-1, 1) * (this.widthShiftRange < 1 ? this.widthShiftRange * w : this.widthShiftRange);
    const zx = rng.uniform(this.zoomRange[0], this.zoomRange[1]);
    const zy = rng.uniform(this.zoomRange[0], this.zoomRange[1]);
    // draws beyond Keras' five come after them, and only when asked for, so older recipes keep their streams
    const shear = this.shearRange > 0 ? rng.uniform(-this.shearRange, this.shearRange) : 0;
    const t: Transform = { theta, tx, ty, zx, zy, ...(shear !== 0 && { shear }) };
    if (this.elastic) t.field = elasticField(rng, h, w, this.elastic.alpha, this.elastic.spacing, field);
    return t;
  }

  /** Writes the transformed `src` ([h, w, c], channels last) into `dst` (not aliased). */
  applyTransform(src: Float32Array, dst: Float32Array, h: number, w: number, c: number, t: Transform): void {
    applyAffine(src, dst, h, w, c, t, this.fillMode, this.cval, this.interpolation);
  }

  /**
   * The hook for FitArgs.augment: transforms a batch in place, NHWC with sample shape [h, w, c].
   * One scratch image is reused, so the hook allocates nothing per batch.
   */
  augmenter(shape: number[]): (x: Float32Array, n: number, rng: Rng) => void {
    const [h, w, c = 1] = shape;
    if (!(h > 0 && w > 0 && c > 0)) throw new UsageError(`augment: expected an image shape [h, w, c], got [${shape}]`);
    const size = h * w * c;
    const scratch = new Float32Array(size);
    const field = this.elastic ? new Float32Array(2 * h * w) : undefined;
    return (x, n, rng) => {
      if (this.isIdentity) return;
      for (let i = 0; i < n; i++) {
        const img = x.subarray(i * size, (i + 1) * size);
        scratch.set(img);
        this.applyTransform(scratch, img, h, w, c, this.randomTransform(rng, h, w, field));
        if (this.ink) applyInk(img, scratch, h, w, c, this.ink, rng);
      }
    };
  }
}

/**
 * A smooth random displacement field: control points on a grid `spacing` pixels apart (covering the
 * image, corners included) each get a displacement uniform in ±alpha along rows and along columns;
 * every pixel gets the bilinear interpolation of its four surrounding points.
 */
export function elasticField(
  rng: Rng,
  h: number,
  w: number,
  alpha: number,
  spacing: number,
  out: Float32Array = new Float32Array(2 * h * w),
): Float32Array {
  const gh = Math.max(2, Math.ceil((h - 1) / spacing) + 1),
    gw = Math.max(2, Math.ceil((w - 1) / spacing) + 1);
  const grid = new Float64Array(2 * gh * gw);
  for (let i = 0; i < grid.length; i++) grid[i] = rng.uniform(-alpha, alpha);
  for (let a = 0; a < 2; a++) {
    const g = a * gh * gw,
      o = a * h * w;
    for (let r = 0; r < h; r++) {
      const gr = r / spacing,
        r0 = Math.min(Math.floor(gr), gh - 2),
        fr = gr - r0;
      for (let col = 0; col < w; col++) {
        const gc = col / spacing,
          c0 = Math.min(Math.floor(gc), gw - 2),
          fc = gc - c0;
        const p = g + r0 * gw + c0;
        out[o + r * w + col] = (1 - fr) * ((1 - fc) * grid[p] + fc * grid[p + 1]) + fr * ((1 - fc) * grid[p + gw] + fc * grid[p + gw + 1]);
      }
    }
  }
  return out;
}

function nonNegative(name: string, v: number): number {
  if (!(Number.isFinite(v) && v >= 0)) throw new UsageError(`${name}: expected a number ≥ 0, got ${v}`);
  return v;
}

/** Maps a coordinate outside [0, n - 1] back inside, as scipy.ndimage's modes do; -1 means 'use cval'. */
function boundary(i: number, n: number, mode: FillMode): number {
  if (i >= 0 && i < n) return i;
  switch (mode) {
    case 'nearest':
      return i < 0 ? 0 : n - 1;
    case 'constant':
      return -1;
    case 'wrap':
      return ((i % n) + n) % n;
    case 'reflect': {
      // scipy's 'reflect' mirrors about the edge of the last pixel (d c b a | a b c d | d c b a)
      const p = 2 * n;
      let j = ((i % p) + p) % p;
      if (j >= n) j = p - 1 - j;
      return j;
    }
  }
}

function applyAffine(
  src: Float32Array,
  dst: Float32Array,
  h: number,
  w: number,
  c: number,
  t: Transform,
  mode: FillMode,
  cval: number,
  interpolation: 'bilinear' | 'nearest',
): void {
  const rad = (t.theta * Math.PI) / 180,
    sh = ((t.shear ?? 0) * Math.PI) / 180;
  const cos = Math.cos(rad),
    sin = Math.sin(rad);
  // input = R · (Sh · Z · (out - centre) + shift) + centre, R = [[cos, -sin], [sin, cos]], Sh = [[1, -sin s], [0, cos s]]
  // (Keras' order: rotation · shift · shear · zoom)
  const a00 = cos * t.zx,
    a01 = -Math.sin(rad + sh) * t.zy,
    a10 = sin * t.zx,
    a11 = Math.cos(rad + sh) * t.zy;
  const b0 = cos * t.tx - sin * t.ty,
    b1 = sin * t.tx + cos * t.ty;
  const cr = (h - 1) / 2,
    cc = (w - 1) / 2;
  const nearest = interpolation === 'nearest';
  const field = t.field,
    hw = h * w;
  let o = 0;
  for (let r = 0; r < h; r++) {
    const dr = r - cr;
    // the input point moves linearly along an output row, so step it instead of recomputing
    let jr = a00 * dr - a01 * cc + b0 + cr;
    let jc = a10 * dr - a11 * cc + b1 + cc;
    for (let col = 0; col < w; col++, jr += a01, jc += a11) {
      const ir = field ? jr + field[r * w + col] : jr,
        ic = field ? jc + field[hw + r * w + col] : jc;
      if (nearest) {
        const y = boundary(Math.round(ir), h, mode),
          x = boundary(Math.round(ic), w, mode);
        for (let ch = 0; ch < c; ch++) dst[o++] = y < 0 || x < 0 ? cval : src[(y * w + x) * c + ch];
        continue;
      }
      const r0 = Math.floor(ir),
        c0 = Math.floor(ic);
      const fr = ir - r0,
        fc = ic - c0;
      let y0 = r0,
        y1 = r0 + 1,
        x0 = c0,
        x1 = c0 + 1;
      const inside = y0 >= 0 && y1 < h && x0 >= 0 && x1 < w;
      if (!inside) {
        y0 = boundary(y0, h, mode);
        y1 = boundary(y1, h, mode);
        x0 = boundary(x0, w, mode);
        x1 = boundary(x1, w, mode);
      }
      const w00 = (1 - fr) * (1 - fc),
        w01 = (1 - fr) * fc,
        w10 = fr * (1 - fc),
        w11 = fr * fc;
      if (inside && c === 1) {
        // grayscale interior pixels are nearly all of the work: keep this path free of calls
        const p0 = y0 * w + x0,
          p1 = p0 + w;
        dst[o++] = w00 * src[p0] + w01 * src[p0 + 1] + w10 * src[p1] + w11 * src[p1 + 1];
        continue;
      }
      for (let ch = 0; ch < c; ch++) {
        if (inside) {
          dst[o++] =
            w00 * src[(y0 * w + x0) * c + ch] +
            w01 * src[(y0 * w + x1) * c + ch] +
            w10 * src[(y1 * w + x0) * c + ch] +
            w11 * src[(y1 * w + x1) * c + ch];
        } else {
          const v = (y: number, x: number) => (y < 0 || x < 0 ? cval : src[(y * w + x) * c + ch]);
          dst[o++] = w00 * v(y0, x0) + w01 * v(y0, x1) + w10 * v(y1, x0) + w11 * v(y1, x1);
        }
      }
    }
  }
}

/** Keras-style options from a preset recipe's { rotation, zoom, shift, shear? } and our elastic / ink. */
export function recipeAugmentation(a: {
  rotation: number;
  zoom: number;
  shift: number;
  shear?: number;
  elastic?: Elastic;
  ink?: Ink;
}): ImageDataGenerator {
  return new ImageDataGenerator({
    rotationRange: a.rotation,
    zoomRange: a.zoom,
    widthShiftRange: a.shift,
    heightShiftRange: a.shift,
    shearRange: a.shear,
    elastic: a.elastic,
    ink: a.ink,
  });
}

function checkInk(ink: Ink): Ink {
  const range = (name: string, r: [number, number] | undefined, lo: number, hi: number) => {
    if (r && !(Array.isArray(r) && r.length === 2 && r[0] >= lo && r[0] <= r[1] && r[1] <= hi))
      throw new UsageError(`ink.${name}: expected [a, b] with ${lo} ≤ a ≤ b ≤ ${hi}, got ${JSON.stringify(r)}`);
  };
  range('stroke', ink.stroke, -1, 1);
  range('contrast', ink.contrast, 0, 1);
  nonNegative('ink.blur', ink.blur ?? 0);
  nonNegative('ink.noise', ink.noise ?? 0);
  return ink;
}

/**
 * The ink step, in place on `img` ([h, w, c], values in [0, 1]); `tmp` is scratch of the same size.
 * Draws (stroke, contrast, blur σ, noise) in that order, each only when configured.
 */
export function applyInk(img: Float32Array, tmp: Float32Array, h: number, w: number, c: number, ink: Ink, rng: Rng): void {
  if (ink.stroke) {
    const a = rng.uniform(ink.stroke[0], ink.stroke[1]),
      f = Math.abs(a),
      grow = a > 0;
    tmp.set(img);
    // a blend towards the 4-neighbour max (dilation) or min (erosion): stroke width changes by up to a pixel a side
    for (let r = 0; r < h; r++)
      for (let x = 0; x < w; x++)
        for (let ch = 0; ch < c; ch++) {
          const i = (r * w + x) * c + ch,
            v = tmp[i];
          let m = v;
          const up = r > 0 ? tmp[i - w * c] : v,
            down = r < h - 1 ? tmp[i + w * c] : v;
          const left = x > 0 ? tmp[i - c] : v,
            right = x < w - 1 ? tmp[i + c] : v;
          m = grow ? Math.max(m, up, down, left, right) : Math.min(m, up, down, left, right);
          img[i] = v + f * (m - v);
        }
  }
  if (ink.contrast) {
    const k = rng.uniform(ink.contrast[0], ink.contrast[1]);
    for (let i = 0; i < img.length; i++) img[i] *= k;
  }
  if (ink.blur) {
    const sigma = rng.uniform(0, ink.blur);
    if (sigma > 0.05) gaussianBlur(img, tmp, h, w, c, sigma);
  }
  if (ink.noise) {
    // uniform noise of the same standard deviation: one draw a pixel instead of Box–Muller's two and a log
    const a = ink.noise * Math.sqrt(3);
    for (let i = 0; i < img.length; i++) img[i] = Math.min(1, Math.max(0, img[i] + rng.uniform(-a, a)));
  }
}

/** Separable Gaussian, radius ⌈2σ⌉, edges clamped. */
function gaussianBlur(img: Float32Array, tmp: Float32Array, h: number, w: number, c: number, sigma: number): void {
  const rad = Math.ceil(2 * sigma);
  const k = Array.from({ length: 2 * rad + 1 }, (_v, i) => Math.exp(-((i - rad) ** 2) / (2 * sigma * sigma)));
  const sum = k.reduce((a, b) => a + b, 0);
  for (let i = 0; i < k.length; i++) k[i] /= sum;
  for (let r = 0; r < h; r++)
    for (let x = 0; x < w; x++)
      for (let ch = 0; ch < c; ch++) {
        let s = 0;
        for (let j = -rad; j <= rad; j++) s += k[j + rad] * img[(r * w + Math.min(w - 1, Math.max(0, x + j))) * c + ch];
        tmp[(r * w + x) * c + ch] = s;
      }
  for (let r = 0; r < h; r++)
    for (let x = 0; x < w; x++)
      for (let ch = 0; ch < c; ch++) {
        let s = 0;
        for (let j = -rad; j <= rad; j++) s += k[j + rad] * tmp[(Math.min(h - 1, Math.max(0, r + j)) * w + x) * c + ch];
        img[(r * w + x) * c + ch] = s;
      }
}
