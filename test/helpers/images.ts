// MNIST digits re-rendered the way users' pictures come: large, dark ink on noisy paper, off-centre,
// as PNG, JPEG, WebP or ink-in-the-alpha-channel RGBA; plus hostile files (huge headers, truncation).
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { Rng } from '../../src/rng';

export type Variant = 'png' | 'jpeg' | 'webp' | 'rgba' | 'white-on-black';
export const VARIANTS: Variant[] = ['png', 'jpeg', 'webp', 'rgba', 'white-on-black'];

const W = 400,
  H = 320,
  BIG = 224;

/** The 28×28 digit (bytes) scaled ×8 with a cubic filter and drawn on a W×H page at a random spot. */
export async function renderDigit(digit: Uint8Array, variant: Variant, seed: number): Promise<Buffer> {
  const rng = new Rng(seed);
  const big = await sharp(Buffer.from(digit), { raw: { width: 28, height: 28, channels: 1 } })
    .resize(BIG, BIG, { kernel: 'cubic' })
    .grayscale()
    .raw()
    .toBuffer();
  const ox = rng.int(W - BIG),
    oy = rng.int(H - BIG);
  if (variant === 'rgba') {
    // blue ink whose coverage is the alpha channel, on a transparent page
    const px = Buffer.alloc(W * H * 4);
    for (let y = 0; y < BIG; y++) for (let x = 0; x < BIG; x++) px.set([20, 30, 120, big[y * BIG + x]], ((oy + y) * W + ox + x) * 4);
    return sharp(px, { raw: { width: W, height: H, channels: 4 } })
      .png()
      .toBuffer();
  }
  const px = Buffer.alloc(W * H);
  if (variant === 'white-on-black') {
    for (let y = 0; y < BIG; y++) for (let x = 0; x < BIG; x++) px[(oy + y) * W + ox + x] = big[y * BIG + x];
    return sharp(px, { raw: { width: W, height: H, channels: 1 } })
      .png()
      .toBuffer();
  }
  // paper at 225 with Gaussian grain (σ 15), a few dark specks of dust, ink at 30
  for (let i = 0; i < px.length; i++)
    px[i] = Math.max(
      0,
      Math.min(255, Math.round(225 + 15 * Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next()))),
    );
  for (let k = 0; k < 25; k++) {
    const p = rng.int(W * H);
    px[p] = 40;
  }
  for (let y = 0; y < BIG; y++)
    for (let x = 0; x < BIG; x++) {
      const o = (oy + y) * W + ox + x,
        a = big[y * BIG + x] / 255;
      px[o] = Math.round(px[o] * (1 - a) + 30 * a);
    }
  const img = sharp(px, { raw: { width: W, height: H, channels: 1 } });
  return variant === 'jpeg'
    ? img.jpeg({ quality: 75 }).toBuffer()
    : variant === 'webp'
      ? img.webp({ quality: 80 }).toBuffer()
      : img.png().toBuffer();
}

/** Digits pasted left to right into one white-on-black image with gaps: a row to be split. */
export async function renderRow(digits: Uint8Array[]): Promise<Buffer> {
  const w = 36 * digits.length + 8,
    h = 44;
  const px = Buffer.alloc(w * h);
  digits.forEach((d, k) => {
    for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) px[(8 + y) * w + 8 + 36 * k + x] = d[y * 28 + x];
  });
  return sharp(px, { raw: { width: w, height: h, channels: 1 } })
    .resize(w * 4, h * 4)
    .negate()
    .png()
    .toBuffer();
}

function crc32(buf: Buffer): number {
  let c = ~0;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

/** A valid PNG header claiming width×height pixels, with one row of data: a decompression bomb's calling card. */
export function hugePngHeader(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = 0;
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.alloc(1 + width))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

export function blankPng(value = 255, size = 64): Promise<Buffer> {
  return sharp({ create: { width: size, height: size, channels: 3, background: { r: value, g: value, b: value } } })
    .png()
    .toBuffer();
}

/** A 28×28's ink box (values ≥ 0.25) and centre of mass. */
export function geometry(d: ArrayLike<number>) {
  let x0 = 28,
    x1 = -1,
    y0 = 28,
    y1 = -1,
    m = 0,
    cx = 0,
    cy = 0;
  for (let y = 0; y < 28; y++)
    for (let x = 0; x < 28; x++) {
      const v = d[y * 28 + x];
      m += v;
      cx += x * v;
      cy += y * v;
      if (v >= 0.25) {
        x0 = Math.min(x0, x);
        x1 = Math.max(x1, x);
        y0 = Math.min(y0, y);
        y1 = Math.max(y1, y);
      }
    }
  return { box: [x0, x1, y0, y1], cx: cx / m, cy: cy / m };
}
