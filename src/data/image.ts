// Reading users' pictures of digits: sharp (libvips) decodes PNG, JPEG and WebP (the first picture of a
// multi-picture file, EXIF orientation applied, ICC profiles and CMYK converted to sRGB, palette and
// 1-bit PNGs expanded), shrinks large photos on load and area-averages them to a working size, and
// hands the colour to preprocess.ts, which turns it into MNIST's 28×28. Limits come first, from the
// header alone, so a small file that claims a gigapixel (a decompression bomb) is refused before any
// pixel is decoded.
import * as fs from 'node:fs';
import sharp, { type Metadata } from 'sharp';
import { plainPng } from './png';
import { ImageError, preprocess, preprocessRow, SIZE, WORK_PIXELS, type Picture } from './preprocess';

export { ImageError, preprocess, preprocessRow, rgbaToGray, type Gray, type Picture } from './preprocess';

export const MAX_FILE_BYTES = 16 << 20;
export const MAX_PIXELS = 40_000_000;
export const MAX_SIDE = 16384;
const FORMATS = new Set(['png', 'jpeg', 'webp']);

// every request decodes a different picture: libvips' operation cache would only hold memory
sharp.cache(false);

const oneLine = (e: unknown) =>
  String((e as Error)?.message ?? e)
    .split('\n')[0]
    .trim();

/**
 * Decode an encoded image to 8-bit sRGB, alpha composited on white, EXIF orientation applied, area-
 * averaged down to about WORK_PIXELS (a digit ends up 20 pixels tall; this keeps a small digit on a
 * wide canvas or a phone photo's thin pen line and bounds the JS work).
 */
export async function decodeImage(buf: Uint8Array, where = 'image'): Promise<Picture> {
  // sharp takes a string for a file path: only bytes may reach it
  if (!(buf instanceof Uint8Array)) throw new ImageError(`${where}: expected image bytes`, 415);
  if (buf.length === 0) throw new ImageError(`${where}: empty file`);
  if (buf.length > MAX_FILE_BYTES)
    throw new ImageError(`${where}: ${buf.length} bytes, more than the ${MAX_FILE_BYTES >> 20} MiB limit`, 413);
  // a drawing's PNG: decoded here, without libvips' thread hand-offs
  const plain = plainPng(buf, WORK_PIXELS);
  if (plain) return plain;
  let meta: Metadata;
  try {
    meta = await sharp(buf, { limitInputPixels: false }).metadata();
  } catch (e) {
    // libspng refuses absurd dimensions itself, even when asked for the header only
    if (/pixel limit/.test(oneLine(e))) throw new ImageError(`${where}: more than the ${MAX_PIXELS / 1e6} megapixel limit`, 413);
    throw new ImageError(`${where}: not a PNG, JPEG or WebP image (${oneLine(e)})`, 415);
  }
  if (!FORMATS.has(meta.format)) throw new ImageError(`${where}: ${meta.format} images are not supported (PNG, JPEG or WebP)`, 415);
  const { width = 0, height = 0 } = meta;
  if (width * height > MAX_PIXELS)
    throw new ImageError(`${where}: ${width}x${height} pixels, more than the ${MAX_PIXELS / 1e6} megapixel limit`, 413);
  // a 100-byte file claiming 1,000,000x24 passes the pixel limit yet costs libvips seconds of CPU to fail
  if (width > MAX_SIDE || height > MAX_SIDE)
    throw new ImageError(`${where}: ${width}x${height} pixels, a side longer than the ${MAX_SIDE}-pixel limit`, 413);
  // the working size, from the upright dimensions (orientations 5-8 swap the sides)
  const [W, H] = (meta.orientation ?? 1) >= 5 ? [height, width] : [width, height];
  const s = Math.min(1, Math.sqrt(WORK_PIXELS / (W * H)));
  try {
    // An RGB picture with its own ICC profile (a phone's Display P3) that is to be shrunk is shrunk
    // first and converted after: libvips applies the profile where it decodes, and lcms on every pixel
    // of a phone photo cost 10-20 ms; on the working size it costs a sixth of that and differs by at
    // most a level or two. The profile travels with the shrunk picture in an uncompressed TIFF.
    const lateIcc = s < 1 && meta.icc !== undefined && meta.space === 'srgb';
    let img = sharp(buf, { limitInputPixels: MAX_PIXELS, failOn: 'error', page: 0, pages: 1, ignoreIcc: lateIcc })
      .autoOrient()
      .flatten({ background: '#ffffff' });
    if (s < 1)
      img = img.resize({ width: Math.max(1, Math.round(W * s)), height: Math.max(1, Math.round(H * s)), fit: 'fill', kernel: 'linear' });
    if (lateIcc) img = sharp(await img.keepIccProfile().tiff({ compression: 'none' }).toBuffer());
    const { data, info } = await img.toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`expected 3 channels, got ${info.channels}`);
    return { width: info.width, height: info.height, channels: 3, data };
  } catch (e) {
    throw new ImageError(`${where}: cannot decode the ${meta.format.toUpperCase()} image (${oneLine(e)})`);
  }
}

export async function readImageFile(file: string): Promise<Buffer> {
  let size: number;
  try {
    size = fs.statSync(file).size;
  } catch (e) {
    throw new ImageError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? oneLine(e)})`);
  }
  if (size > MAX_FILE_BYTES) throw new ImageError(`${file}: ${size} bytes, more than the ${MAX_FILE_BYTES >> 20} MiB limit`, 413);
  return fs.promises.readFile(file);
}

/** The 28×28 inputs the network sees, for one digit or (`row`) a row of digits read left to right. */
export async function imageToDigits(buf: Uint8Array, where: string, row = false): Promise<Float32Array[]> {
  const pic = await decodeImage(buf, where);
  try {
    return row ? preprocessRow(pic) : [preprocess(pic)];
  } catch (e) {
    if (e instanceof ImageError) throw new ImageError(`${where}: ${e.message}`, e.status);
    throw e;
  }
}

/** 28×28 inputs side by side as one PNG, each pixel drawn `scale`×`scale`: what the network saw. */
export async function digitsPng(digits: Float32Array[], scale = 8): Promise<Buffer> {
  const w = SIZE * digits.length;
  const raw = Buffer.alloc(w * SIZE);
  digits.forEach((d, k) => {
    for (let y = 0; y < SIZE; y++) for (let x = 0; x < SIZE; x++) raw[y * w + k * SIZE + x] = Math.round(d[y * SIZE + x] * 255);
  });
  return sharp(raw, { raw: { width: w, height: SIZE, channels: 1 } })
    .resize({ width: w * scale, height: SIZE * scale, kernel: 'nearest' })
    .toColourspace('b-w')
    .png()
    .toBuffer();
}
