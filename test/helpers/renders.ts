// Realistic renders of MNIST test digits, the way users' own digits come: each digit is thinned to its
// centre line (Zhang-Suen on a 4× upscale), the line becomes vector segments, and the segments are
// drawn again with a pen of some width and colour onto synthetic paper or a canvas, then encoded the
// way the picture would reach us. Deterministic from (digit, kind, seed), so a regression shows in CI.
//
// Kinds (each randomises its own parameters):
//   paint   a paint program: white (or transparent) canvas, brush 2-16% of the digit, PNG
//   canvas  a drawing canvas: white strokes on black or black on white, 280-560 px, PNG
//   thin    1-pixel pen strokes (anti-aliased or not) on a 200-600 px canvas
//   wide    a small digit (30-90 px) somewhere on a wide canvas (up to 1800 px)
//   photo   a phone photo, 1080×1920 or 1280×1280 JPEG: ballpoint on grey paper, uneven light and
//           shadow, show-through from the back, blur, sensor noise, sometimes an EXIF rotation
//   crop    a small blurry crop (60-110 px) of a photographed digit, touching the edges at times
//   colour  coloured paper and coloured ink, photographed
//   ruled   ruled notebook paper (blue rules, a red margin), the digit over the rules
//   frame   a rectangle drawn around the digit
import sharp from 'sharp';
import { Rng } from '../../src/rng';
import { resize } from '../../src/data/resample';

export type RenderKind = 'paint' | 'canvas' | 'thin' | 'wide' | 'photo' | 'crop' | 'colour' | 'ruled' | 'frame';
export const RENDER_KINDS: RenderKind[] = ['paint', 'canvas', 'thin', 'wide', 'photo', 'crop', 'colour', 'ruled', 'frame'];

type RGB = [number, number, number];
interface Seg {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

const UP = 4;

/** The digit's centre line as segments in 28×28 frame units, and its own stroke width there. */
export function centreLine(digit: ArrayLike<number>): { segs: Seg[]; width: number } {
  const n = 28 * UP;
  const big = resize(
    Float32Array.from(digit, (v) => v / 255),
    28,
    28,
    n,
    n,
  );
  const m = new Uint8Array(n * n);
  let area = 0,
    edges = 0;
  for (let i = 0; i < m.length; i++)
    if (big[i] >= 0.4) {
      m[i] = 1;
      area++;
    }
  for (let y = 0; y < n; y++)
    for (let x = 0; x < n; x++) {
      const v = m[y * n + x];
      if (x + 1 < n && v !== m[y * n + x + 1]) edges++;
      if (y + 1 < n && v !== m[(y + 1) * n + x]) edges++;
    }
  thin(m, n, n);
  const segs: Seg[] = [];
  for (let y = 0; y < n; y++)
    for (let x = 0; x < n; x++) {
      if (!m[y * n + x]) continue;
      // each 8-neighbour pair once (right, down-left, down, down-right)
      for (const [dx, dy] of [
        [1, 0],
        [-1, 1],
        [0, 1],
        [1, 1],
      ]) {
        const X = x + dx,
          Y = y + dy;
        if (X < 0 || X >= n || Y >= n || !m[Y * n + X]) continue;
        // a diagonal beside an axis step would double the corner
        if (dx !== 0 && dy !== 0 && (m[y * n + X] || m[Y * n + x])) continue;
        segs.push({ x0: (x + 0.5) / UP, y0: (y + 0.5) / UP, x1: (X + 0.5) / UP, y1: (Y + 0.5) / UP });
      }
    }
  return { segs, width: edges > 0 ? (2 * area) / edges / UP : 2 };
}

/**
 * Whether a person could draw this digit with a pen: MNIST has some blots (a 9 or 6 whose loop is
 * filled in); their centre line loses the loop, and a drawing of it would not be the same digit.
 */
export function drawable(digit: ArrayLike<number>): boolean {
  return centreLine(digit).width <= 3;
}

/** A deterministic measurement set: `perKind` drawable MNIST test digits per kind, spread over the test set. */
export function renderPlan(
  labels: ArrayLike<number>,
  images: Uint8Array,
  perKind: number,
  kinds = RENDER_KINDS,
): { kind: RenderKind; index: number; seed: number }[] {
  const plan: { kind: RenderKind; index: number; seed: number }[] = [];
  let i = 0;
  for (let j = 0; j < perKind; j++)
    for (const kind of kinds) {
      // a stride coprime with 10,000 walks the whole test set without repeating
      for (; ; i++) {
        const index = (i * 7919) % labels.length;
        if (drawable(images.subarray(index * 784, (index + 1) * 784))) {
          plan.push({ kind, index, seed: plan.length + 1 });
          i++;
          break;
        }
      }
    }
  return plan;
}

/** Zhang-Suen thinning, in place. */
function thin(m: Uint8Array, w: number, h: number): void {
  const del: number[] = [];
  for (let changed = true; changed;) {
    changed = false;
    for (const step of [0, 1]) {
      del.length = 0;
      for (let y = 1; y < h - 1; y++)
        for (let x = 1; x < w - 1; x++) {
          const p = y * w + x;
          if (!m[p]) continue;
          const nb = [m[p - w], m[p - w + 1], m[p + 1], m[p + w + 1], m[p + w], m[p + w - 1], m[p - 1], m[p - w - 1]];
          const b = nb.reduce((a, v) => a + v, 0);
          if (b < 2 || b > 6) continue;
          let a = 0;
          for (let k = 0; k < 8; k++) if (!nb[k] && nb[(k + 1) % 8]) a++;
          if (a !== 1) continue;
          if (step === 0 ? nb[0] * nb[2] * nb[4] || nb[2] * nb[4] * nb[6] : nb[0] * nb[2] * nb[6] || nb[0] * nb[4] * nb[6]) continue;
          del.push(p);
        }
      for (const p of del) m[p] = 0;
      if (del.length > 0) changed = true;
    }
  }
}

/** A placement of the 28×28 frame: scale (px per frame unit), small rotation and shear, offset. */
interface Place {
  k: number;
  cx: number;
  cy: number;
  rot: number;
  shear: number;
}

function mapper(p: Place) {
  const c = Math.cos(p.rot),
    s = Math.sin(p.rot);
  return (x: number, y: number): [number, number] => {
    const u = x - 14 + p.shear * (y - 14),
      v = y - 14;
    return [p.cx + p.k * (c * u - s * v), p.cy + p.k * (s * u + c * v)];
  };
}

/** Pen coverage (0..1) of segments drawn `width` px wide; `aliased` draws hard pixels, `pressure` varies the ink along the line. */
function drawSegs(
  cov: Float32Array,
  W: number,
  H: number,
  segs: Seg[],
  at: (x: number, y: number) => [number, number],
  width: number,
  opts: { aliased?: boolean; pressure?: (x: number, y: number) => number } = {},
): void {
  const r = width / 2;
  for (const sg of segs) {
    const [ax, ay] = at(sg.x0, sg.y0),
      [bx, by] = at(sg.x1, sg.y1);
    const dx = bx - ax,
      dy = by - ay,
      len2 = dx * dx + dy * dy;
    const x0 = Math.max(0, Math.floor(Math.min(ax, bx) - r - 1)),
      x1 = Math.min(W - 1, Math.ceil(Math.max(ax, bx) + r + 1));
    const y0 = Math.max(0, Math.floor(Math.min(ay, by) - r - 1)),
      y1 = Math.min(H - 1, Math.ceil(Math.max(ay, by) + r + 1));
    const pr = opts.pressure ? opts.pressure((ax + bx) / 2, (ay + by) / 2) : 1;
    for (let y = y0; y <= y1; y++)
      for (let x = x0; x <= x1; x++) {
        const px = x + 0.5 - ax,
          py = y + 0.5 - ay;
        const t = len2 > 0 ? Math.max(0, Math.min(1, (px * dx + py * dy) / len2)) : 0;
        const d = Math.hypot(px - t * dx, py - t * dy);
        const c = (opts.aliased ? (d <= Math.max(0.5, r) ? 1 : 0) : Math.max(0, Math.min(1, r + 0.5 - d))) * pr;
        const o = y * W + x;
        if (c > cov[o]) cov[o] = c;
      }
  }
}

/**
 * The digit's centre line drawn `width` px wide into a W×H coverage map (0..1), `tall` px tall
 * centred at (cx, cy): the pen drawing the step tests put on paper of their own.
 */
export function penDrawing(
  digit: ArrayLike<number>,
  W: number,
  H: number,
  o: { tall: number; cx: number; cy: number; width: number; aliased?: boolean },
): Float32Array {
  const cov = new Float32Array(W * H);
  drawSegs(cov, W, H, centreLine(digit).segs, mapper({ k: o.tall / 20, cx: o.cx, cy: o.cy, rot: 0, shear: 0 }), o.width, {
    aliased: o.aliased,
  });
  return cov;
}

/** A straight line (a rule or a frame's side), `width` px wide. */
export function drawLine(cov: Float32Array, W: number, H: number, ax: number, ay: number, bx: number, by: number, width: number): void {
  drawSegs(cov, W, H, [{ x0: ax, y0: ay, x1: bx, y1: by }], (x, y) => [x, y], width);
}

const gauss = (rng: Rng) => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
const pick = <T>(rng: Rng, xs: T[]): T => xs[rng.int(xs.length)];
/** Integer in [lo, hi]. */
const between = (rng: Rng, lo: number, hi: number) => lo + rng.int(hi - lo + 1);

const INKS: Record<string, RGB> = {
  black: [0.08, 0.08, 0.1],
  ballpoint: [0.12, 0.14, 0.55],
  blue: [0.1, 0.25, 0.75],
  red: [0.75, 0.1, 0.12],
  green: [0.1, 0.45, 0.2],
  purple: [0.4, 0.12, 0.5],
  pencil: [0.42, 0.42, 0.44],
  felt: [0.05, 0.05, 0.05],
};
const PAPERS: Record<string, RGB> = {
  white: [0.93, 0.93, 0.92],
  grey: [0.78, 0.79, 0.8],
  cream: [0.95, 0.92, 0.82],
  yellow: [0.97, 0.92, 0.55],
  pink: [0.97, 0.76, 0.82],
  sky: [0.72, 0.86, 0.96],
  mint: [0.76, 0.93, 0.74],
  orange: [0.98, 0.78, 0.55],
};

/** Light over the page: a gradient, a vignette and sometimes a soft shadow; values about 0.55-1.1. */
function lighting(rng: Rng, W: number, H: number, strength: number): (x: number, y: number) => number {
  const ang = rng.uniform(0, 2 * Math.PI),
    g = rng.uniform(0.1, 0.35) * strength;
  const vig = rng.uniform(0, 0.3) * strength;
  const shadow = rng.next() < 0.35 * strength;
  const sa = rng.uniform(0, 2 * Math.PI),
    so = rng.uniform(-0.5, 0.5),
    sd = rng.uniform(0.15, 0.3),
    soft = rng.uniform(0.05, 0.2);
  const D = Math.hypot(W, H);
  return (x, y) => {
    const u = (x - W / 2) / D,
      v = (y - H / 2) / D;
    let l = 1 + g * (u * Math.cos(ang) + v * Math.sin(ang)) * 2 - vig * (u * u + v * v) * 4;
    if (shadow) l -= sd / (1 + Math.exp(-(u * Math.cos(sa) + v * Math.sin(sa) - so * 0.5) / (soft * 0.5)));
    return l;
  };
}

interface Scene {
  W: number;
  H: number;
  paper: RGB;
  inkRgb: RGB;
  light?: (x: number, y: number) => number;
  noise: number; // sensor noise, in levels
}

/** Paper × light × (1 - coverage·(1 - ink)) per channel, plus noise; extra layers (rules, show-through) first. */
function compose(rng: Rng, s: Scene, layers: { cov: Float32Array; rgb: RGB; alpha?: number }[]): Buffer {
  const { W, H } = s;
  const out = Buffer.alloc(W * H * 3);
  // Gaussian noise from a table (a million calls to log and cos would dominate the render)
  const table = Float32Array.from({ length: 4096 }, () => s.noise * gauss(rng));
  let seed = rng.nextUint32();
  const ratio = layers.map((L) => L.rgb.map((v, c) => 1 - v / Math.max(0.05, s.paper[c])));
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      const o = y * W + x,
        l = s.light ? s.light(x, y) : 1;
      for (let c = 0; c < 3; c++) {
        let r = s.paper[c];
        for (let k = 0; k < layers.length; k++) {
          const a = layers[k].cov[o] * (layers[k].alpha ?? 1);
          if (a > 0) r *= 1 - a * ratio[k][c];
        }
        seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
        const v = 255 * r * l + (s.noise > 0 ? table[seed >>> 20] : 0);
        out[o * 3 + c] = v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
      }
    }
  return out;
}

const png = (raw: Buffer, W: number, H: number, ch = 3) =>
  sharp(raw, { raw: { width: W, height: H, channels: ch as 3 } })
    .png()
    .toBuffer();

/** The picture a person would make of `digit` (28×28 bytes, MNIST's white on black) as `kind`; encoded bytes. */
export async function renderRealistic(
  digit: ArrayLike<number>,
  kind: RenderKind,
  seed: number,
  other?: ArrayLike<number>,
): Promise<Buffer> {
  const rng = new Rng(seed * 7919 + RENDER_KINDS.indexOf(kind));
  const { segs, width: natural } = centreLine(digit);
  const tilt = () => ({ rot: rng.uniform(-0.12, 0.12), shear: rng.uniform(-0.15, 0.15) });
  // the digit is about 20 frame units tall: k px per unit makes it 20k px tall
  switch (kind) {
    case 'paint': {
      const W = between(rng, 100, 360),
        H = Math.round(W * rng.uniform(0.8, 1.3));
      const k = (Math.min(W, H) * rng.uniform(0.55, 0.9)) / 20;
      const cov = new Float32Array(W * H);
      const pen = Math.max(1.5, rng.uniform(0.03, 0.17) * 20 * k);
      drawSegs(
        cov,
        W,
        H,
        segs,
        mapper({ k, cx: W / 2 + rng.uniform(-0.1, 0.1) * W, cy: H / 2 + rng.uniform(-0.1, 0.1) * H, ...tilt() }),
        pen,
      );
      const ink = pick(rng, ['black', 'black', 'green', 'blue', 'red']);
      if (rng.next() < 0.5) {
        // ink in the alpha channel of a transparent canvas
        const raw = Buffer.alloc(W * H * 4);
        const c = INKS[ink].map((v) => Math.round(v * 255));
        for (let i = 0; i < W * H; i++) raw.set([c[0], c[1], c[2], Math.round(cov[i] * 255)], i * 4);
        return png(raw, W, H, 4);
      }
      return png(compose(rng, { W, H, paper: [1, 1, 1], inkRgb: INKS[ink], noise: 0 }, [{ cov, rgb: INKS[ink] }]), W, H);
    }
    case 'canvas': {
      const W = pick(rng, [280, 400, 560]),
        H = W;
      const k = (W * rng.uniform(0.45, 0.8)) / 20;
      const cov = new Float32Array(W * H);
      drawSegs(
        cov,
        W,
        H,
        segs,
        mapper({ k, cx: W / 2 + rng.uniform(-0.1, 0.1) * W, cy: H / 2 + rng.uniform(-0.1, 0.1) * H, ...tilt() }),
        rng.uniform(0.04, 0.16) * 20 * k,
      );
      const dark = rng.next() < 0.5;
      const raw = Buffer.alloc(W * H * 3);
      for (let i = 0; i < W * H; i++) raw.fill(Math.round(255 * (dark ? cov[i] : 1 - cov[i])), i * 3, i * 3 + 3);
      return png(raw, W, H);
    }
    case 'thin': {
      const W = between(rng, 200, 600),
        H = Math.round(W * rng.uniform(0.7, 1.4));
      const k = (Math.min(W, H) * rng.uniform(0.4, 0.85)) / 20;
      const cov = new Float32Array(W * H);
      drawSegs(
        cov,
        W,
        H,
        segs,
        mapper({ k, cx: W / 2 + rng.uniform(-0.15, 0.15) * W, cy: H / 2 + rng.uniform(-0.15, 0.15) * H, ...tilt() }),
        1,
        { aliased: rng.next() < 0.5 },
      );
      const ink = pick(rng, ['black', 'blue', 'felt']);
      return png(compose(rng, { W, H, paper: [1, 1, 1], inkRgb: INKS[ink], noise: 0 }, [{ cov, rgb: INKS[ink] }]), W, H);
    }
    case 'wide': {
      const W = between(rng, 700, 1800),
        H = between(rng, 250, 600);
      const tall = rng.uniform(30, 90);
      const k = tall / 20;
      const cx = rng.uniform(0.1, 0.9) * W,
        cy = rng.uniform(0.25, 0.75) * H;
      const cov = new Float32Array(W * H);
      drawSegs(cov, W, H, segs, mapper({ k, cx, cy, ...tilt() }), rng.uniform(1.5, 8));
      const dark = rng.next() < 0.3;
      if (dark) {
        const raw = Buffer.alloc(W * H * 3);
        for (let i = 0; i < W * H; i++) raw.fill(Math.round(255 * cov[i]), i * 3, i * 3 + 3);
        return png(raw, W, H);
      }
      const ink = pick(rng, ['black', 'blue', 'red']);
      return png(compose(rng, { W, H, paper: [1, 1, 1], inkRgb: INKS[ink], noise: 0 }, [{ cov, rgb: INKS[ink] }]), W, H);
    }
    case 'photo':
    case 'colour':
    case 'ruled':
    case 'frame':
    case 'crop':
      return photo(rng, kind, segs, natural, tilt(), other);
  }
}

async function photo(
  rng: Rng,
  kind: RenderKind,
  segs: Seg[],
  natural: number,
  t: { rot: number; shear: number },
  other?: ArrayLike<number>,
): Promise<Buffer> {
  // composed at half size (phone photos are soft at full size anyway), then enlarged
  const crop = kind === 'crop';
  const portrait = rng.next() < 0.7;
  const [FW, FH] = crop
    ? [between(rng, 60, 110), between(rng, 60, 110)]
    : portrait
      ? pick(rng, [
          [1080, 1920],
          [720, 1280],
        ])
      : pick(rng, [
          [1280, 1280],
          [960, 960],
        ]);
  const half = crop ? 1 : 2;
  const W = Math.round(FW / half),
    H = Math.round(FH / half);
  const tall = crop ? rng.uniform(0.65, 0.95) * H : rng.uniform(0.2, 0.55) * Math.min(W, H) * (portrait ? 1.3 : 1);
  const k = tall / 20;
  const cx = W / 2 + rng.uniform(-0.12, 0.12) * W,
    cy = H / 2 + rng.uniform(-0.12, 0.12) * H;
  const at = mapper({ k, cx, cy, ...t });
  // ballpoint: a fine line, uneven pressure; a marker: broad
  const marker = crop ? rng.next() < 0.6 : rng.next() < 0.25;
  const pen = marker ? rng.uniform(0.08, 0.16) * tall : Math.max(1, rng.uniform(0.025, 0.07) * tall);
  const ph = rng.uniform(0, 6),
    pf = rng.uniform(0.02, 0.06);
  const pressure = (x: number, y: number) => 0.8 + 0.2 * Math.sin(ph + pf * (x + 0.7 * y));
  const cov = new Float32Array(W * H);
  drawSegs(cov, W, H, segs, at, pen, { pressure });
  const paperName =
    kind === 'colour' ? pick(rng, ['yellow', 'pink', 'sky', 'mint', 'orange', 'cream']) : pick(rng, ['white', 'grey', 'grey', 'cream']);
  const inkName =
    kind === 'colour'
      ? pick(rng, ['red', 'blue', 'green', 'purple', 'black'])
      : marker
        ? 'felt'
        : pick(rng, ['ballpoint', 'ballpoint', 'black', 'pencil', 'blue']);
  const layers: { cov: Float32Array; rgb: RGB; alpha?: number }[] = [];
  if (kind === 'ruled') {
    const rules = new Float32Array(W * H);
    const gap = rng.uniform(0.18, 0.35) * tall,
      off = rng.uniform(0, gap),
      lw = rng.uniform(0.8, 2);
    const slope = rng.uniform(-0.02, 0.02);
    for (let y = off; y < H; y += gap) drawLine(rules, W, H, 0, y, W, y + slope * W, lw);
    layers.push({ cov: rules, rgb: [0.45, 0.65, 0.9] });
    if (rng.next() < 0.5) {
      const margin = new Float32Array(W * H);
      const mx = rng.next() < 0.5 ? rng.uniform(0.05, 0.2) * W : cx - rng.uniform(0.5, 0.7) * tall;
      drawLine(margin, W, H, mx, 0, mx + rng.uniform(-0.01, 0.01) * H, H, lw * 1.3);
      layers.push({ cov: margin, rgb: [0.9, 0.35, 0.4] });
    }
  }
  if (kind === 'frame') {
    const fr = new Float32Array(W * H);
    // people draw the box first and write inside it: clear of the digit
    const mx = rng.uniform(0.6, 0.9) * tall + pen,
      my = rng.uniform(0.6, 0.85) * tall + pen;
    const x0 = cx - mx,
      x1 = cx + mx,
      y0 = cy - my,
      y1 = cy + my,
      lw = Math.max(1, pen * rng.uniform(0.6, 1.2));
    drawLine(fr, W, H, x0, y0, x1, y0, lw);
    drawLine(fr, W, H, x1, y0, x1, y1, lw);
    drawLine(fr, W, H, x1, y1, x0, y1, lw);
    drawLine(fr, W, H, x0, y1, x0, y0, lw);
    layers.push({ cov: fr, rgb: INKS[rng.next() < 0.5 ? inkName : 'black'] });
  }
  if (other && !crop && rng.next() < 0.5) {
    // show-through: a digit written on the back, mirrored, faint and soft
    const back = new Float32Array(W * H);
    const o = centreLine(other);
    const mirrored = o.segs.map((s) => ({ x0: 28 - s.x0, y0: s.y0, x1: 28 - s.x1, y1: s.y1 }));
    drawSegs(
      back,
      W,
      H,
      mirrored,
      mapper({
        k: k * rng.uniform(0.8, 1.2),
        cx: cx + rng.uniform(-0.3, 0.3) * tall,
        cy: cy + rng.uniform(-0.3, 0.3) * tall,
        rot: 0,
        shear: 0,
      }),
      pen * 1.5,
    );
    layers.push({ cov: back, rgb: INKS.ballpoint, alpha: rng.uniform(0.05, 0.15) });
  }
  layers.push({ cov, rgb: INKS[inkName], alpha: inkName === 'pencil' ? rng.uniform(0.6, 1) : 1 });
  const raw = compose(
    rng,
    { W, H, paper: PAPERS[paperName], inkRgb: INKS[inkName], light: lighting(rng, W, H, crop ? 0.6 : 1), noise: rng.uniform(1, 4) },
    layers,
  );
  let img = sharp(raw, { raw: { width: W, height: H, channels: 3 } });
  const blur = crop ? rng.uniform(0.5, 1.6) : rng.uniform(0.3, 1.2);
  img = img.blur(Math.max(0.3, blur));
  if (half > 1)
    img = sharp(await img.resize(FW, FH, { kernel: 'cubic' }).raw().toBuffer(), { raw: { width: FW, height: FH, channels: 3 } });
  if (!crop && rng.next() < 0.3) {
    // stored sideways with an EXIF orientation, as phones do
    const [angle, orientation] = pick(rng, [
      [270, 6],
      [90, 8],
      [180, 3],
    ] as [number, number][]);
    const { data, info } = await img.rotate(angle).raw().toBuffer({ resolveWithObject: true });
    return sharp(data, { raw: { width: info.width, height: info.height, channels: 3 } })
      .withMetadata({ orientation })
      .jpeg({ quality: between(rng, 70, 93) })
      .toBuffer();
  }
  if (crop && rng.next() < 0.5) return img.png().toBuffer();
  return img.jpeg({ quality: between(rng, 60, 93) }).toBuffer();
}
