// The PNGs a drawing page, a canvas or a paint program sends (8 bits per sample, not interlaced, grey,
// grey+alpha, RGB or RGBA, no colour profile or orientation) decoded in the calling thread: Node's zlib
// inflates, and the five scanline filters are reversed here. A server request's picture cost 1.5-4 ms
// through libvips (two calls, each a hand-off to its thread pool) and 1.5 ms through pngjs (a generic
// per-pixel RGBA mapper); this costs a third of a millisecond for a 280×280 drawing. Anything else
// (palette, 1-16-bit, interlaced, tRNS, ICC, EXIF) and any fault is left to sharp, which says what is wrong.
import * as zlib from 'node:zlib';
import type { Picture } from './ink';

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
/** Samples per pixel by colour type: grey, RGB, grey+alpha, RGBA. */
const SAMPLES: Record<number, number> = { 0: 1, 2: 3, 4: 2, 6: 4 };
/** Chunks that change how the pixels read (sharp applies them): transparency key, profile, orientation. */
const SHARPS = new Set(['tRNS', 'iCCP', 'eXIf']);

const tag = (b: Uint8Array, at: number) => String.fromCharCode(b[at], b[at + 1], b[at + 2], b[at + 3]);

/** Pixels as sharp gives them (alpha composited on white); one channel when every pixel is grey. Null when not a plain PNG. */
export function plainPng(buf: Uint8Array, maxPixels: number): Picture | null {
  if (buf.length < 57 || SIGNATURE.some((s, i) => buf[i] !== s)) return null;
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (v.getUint32(8) !== 13 || tag(buf, 12) !== 'IHDR') return null;
  const width = v.getUint32(16),
    height = v.getUint32(20),
    n = SAMPLES[buf[25]];
  if (!n || buf[24] !== 8 || buf[26] !== 0 || buf[27] !== 0 || buf[28] !== 0) return null;
  if (width === 0 || height === 0 || width * height > maxPixels) return null;
  const idat: Uint8Array[] = [];
  let at = 33,
    ended = false;
  while (!ended && at + 12 <= buf.length) {
    const len = v.getUint32(at),
      type = tag(buf, at + 4);
    if (at + 12 + len > buf.length || SHARPS.has(type)) return null;
    if (type === 'IDAT') idat.push(buf.subarray(at + 8, at + 8 + len));
    ended = type === 'IEND';
    at += 12 + len;
  }
  if (!ended) return null;
  const size = height * (width * n + 1);
  let raw: Buffer;
  try {
    // inflated into one buffer with room to spare (zlib's 16 KiB chunks were joined by a copy), no more than the rows need
    raw = zlib.inflateSync(idat.length === 1 ? idat[0] : Buffer.concat(idat), { chunkSize: size + 1024, maxOutputLength: size });
  } catch {
    return null;
  }
  if (raw.length !== size) return null;
  return pixelsOf(raw, width, height, n);
}

/**
 * The scanlines with their filters reversed (PNG spec §9) in place, each row where it lies after its
 * filter byte; an RGB(A) row is checked for grey while it is in the cache, so a grey picture comes out
 * as one channel without a second pass. Null for an unknown filter.
 */
function pixelsOf(buf: Buffer, width: number, height: number, n: number): Picture | null {
  // a plain view: a Buffer's subarray builds a Buffer object, and per row that was most of the garbage
  const raw = new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
  const stride = width * n;
  let grey: Uint8Array | null = n >= 3 ? new Uint8Array(width * height) : null;
  for (let y = 0; y < height; y++) {
    if (!unfilterRow(raw, y, stride, n)) return null;
    if (grey && !greyRow(raw, y * (stride + 1) + 1, width, n, grey, y * width)) grey = null;
  }
  if (n === 3 && grey) return { width, height, channels: 1, data: grey };
  // the rows packed (row y moves down to y·stride: each byte is read before anything is written over it)
  for (let y = 0; y < height; y++) raw.copyWithin(y * stride, y * (stride + 1) + 1, (y + 1) * (stride + 1));
  const px = raw.subarray(0, height * stride),
    count = width * height;
  if (n === 1) return { width, height, channels: 1, data: px };
  if (n === 3) return { width, height, channels: 3, data: px };
  // with alpha: grey (grey+alpha, or RGBA all grey) as one channel, else three
  const data = n === 2 ? composite(px, 2, px, n, count, 1) : grey ? composite(grey, 1, px, n, count, 1) : composite(px, 4, px, n, count, 3);
  return { width, height, channels: data.length / count, data };
}

/** Scanline y's filter reversed in place (its bytes follow its filter byte at y·(stride + 1)), the row above already reversed. */
function unfilterRow(raw: Uint8Array, y: number, stride: number, bpp: number): boolean {
  const f = raw[y * (stride + 1)],
    c = y * (stride + 1) + 1,
    u = c - stride - 1;
  // the first pixel has no left neighbour, and the first row no row above: both read as 0
  if (f === 0 || (f === 2 && y === 0)) return true;
  if (f === 1) for (let i = bpp; i < stride; i++) raw[c + i] += raw[c + i - bpp];
  else if (f === 2) for (let i = 0; i < stride; i++) raw[c + i] += raw[u + i];
  else if (f === 3) {
    if (y === 0) {
      for (let i = bpp; i < stride; i++) raw[c + i] += raw[c + i - bpp] >> 1;
      return true;
    }
    for (let i = 0; i < bpp; i++) raw[c + i] += raw[u + i] >> 1;
    for (let i = bpp; i < stride; i++) raw[c + i] += (raw[c + i - bpp] + raw[u + i]) >> 1;
  } else if (f === 4) {
    // Paeth: with no row above it predicts the left neighbour; with no left neighbour, the one above
    if (y === 0) {
      for (let i = bpp; i < stride; i++) raw[c + i] += raw[c + i - bpp];
      return true;
    }
    for (let i = 0; i < bpp; i++) raw[c + i] += raw[u + i];
    for (let i = bpp; i < stride; i++) {
      const a = raw[c + i - bpp],
        b = raw[u + i],
        d = raw[u + i - bpp];
      const pa = Math.abs(b - d),
        pb = Math.abs(a - d),
        pc = Math.abs(a + b - 2 * d);
      raw[c + i] += pa <= pb && pa <= pc ? a : pb <= pc ? b : d;
    }
  } else return false;
  return true;
}

/** An RGB(A) row's red (the row at `j` of px) copied out at `at` while every pixel's three colours agree; false at the first that does not. */
function greyRow(row: Uint8Array, j: number, width: number, n: number, out: Uint8Array, at: number): boolean {
  for (let x = 0; x < width; x++, j += n) {
    const r = row[j];
    if (r !== row[j + 1] || r !== row[j + 2]) return false;
    out[at + x] = r;
  }
  return true;
}

/**
 * `ch` colour channels (pixel i's at i·step of `colour`) over pixel i's alpha (the last of its n bytes in
 * `px`), composited on white and truncated, as libvips' flatten does.
 */
function composite(colour: Uint8Array, step: number, px: Uint8Array, n: number, count: number, ch: number): Uint8Array {
  const out = new Uint8Array(count * ch);
  for (let i = 0, j = 0, k = 0; i < count; i++, j += step, k += ch) {
    const a = px[i * n + n - 1];
    for (let c = 0; c < ch; c++) out[k + c] = a === 255 ? colour[j + c] : ((colour[j + c] * a + 255 * (255 - a)) / 255) | 0;
  }
  return out;
}
