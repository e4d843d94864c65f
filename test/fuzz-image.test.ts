// Property-based fuzzing of the image path (sharp decode → colour → MNIST 28×28): PNG, JPEG and
// WebP files made by the test (palette, 16-bit, EXIF-rotated, CMYK and animated ones among them),
// mutated at the byte level (PNG chunk CRCs repaired half the time so the mutations reach the
// decoder), and headers that claim gigapixels. Every input yields digits or
// a one-line ImageError (a DigitsError), without decoding what a lying header claims.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as zlib from 'node:zlib';
import fc from 'fast-check';
import sharp from 'sharp';
import { imageToDigits, MAX_PIXELS, MAX_SIDE } from '../src/data/image';
import { ImageError } from '../src/data/preprocess';
import { applyMutations, fuzz, mutation, newTally, oracleAsync } from './helpers/fuzz';

/**
 * A dark stroke on white at a few sizes and positions, as PNG (gray, RGBA, palette, 1-bit, 16-bit),
 * JPEG (plain, EXIF-rotated, CMYK) and WebP (still and animated), and blue ink on lit grey paper.
 */
async function bases(): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (const [w, h, x0, y0] of [
    [24, 24, 8, 4],
    [40, 30, 5, 5],
    [64, 20, 30, 2],
  ]) {
    const px = Buffer.alloc(w * h, 255);
    for (let y = y0; y < h - 3; y++) for (let x = x0; x < x0 + 4 && x < w; x++) px[y * w + x] = 0;
    const img = () => sharp(px, { raw: { width: w, height: h, channels: 1 } });
    out.push(
      await img().png().toBuffer(),
      await img().ensureAlpha().png().toBuffer(),
      await img().jpeg().toBuffer(),
      await img().webp().toBuffer(),
    );
  }
  const w = 48,
    h = 40;
  const rgb = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const l = 200 - 2 * x,
        ink = Math.abs(x - 20 - y / 4) < 2 && y > 4 && y < 36;
      rgb.set(ink ? [40, 50, 170] : [l, l, l - 5], (y * w + x) * 3);
    }
  const img = () => sharp(rgb, { raw: { width: w, height: h, channels: 3 } });
  out.push(
    await img().png({ palette: true, colours: 4 }).toBuffer(),
    await img().toColourspace('b-w').png({ palette: true, colours: 2 }).toBuffer(),
    await img().toColourspace('rgb16').png().toBuffer(),
    await img().rotate(270).withMetadata({ orientation: 6 }).jpeg().toBuffer(),
    await img().toColourspace('cmyk').jpeg().toBuffer(),
    await sharp(Buffer.concat([rgb, Buffer.alloc(rgb.length, 255)]), { raw: { width: w, height: 2 * h, channels: 3, pageHeight: h } })
      .webp({ loop: 0 })
      .toBuffer(),
  );
  return out;
}

/** Recomputes every PNG chunk's CRC, so a mutated chunk is parsed instead of rejected by its checksum. */
function fixPngCrcs(b: Buffer): Buffer {
  if (b.length < 8 || b.readUInt32BE(0) !== 0x89504e47) return b;
  for (let at = 8; at + 12 <= b.length;) {
    const len = b.readUInt32BE(at);
    if (at + 12 + len > b.length) break;
    b.writeUInt32BE(zlib.crc32(b.subarray(at + 4, at + 8 + len)), at + 8 + len);
    at += 12 + len;
  }
  return b;
}

test('fuzz imageToDigits: mutated PNG, JPEG and WebP files', async (t) => {
  const pool = await bases();
  const tally = newTally();
  const prop = fc.asyncProperty(
    fc.integer({ min: 0, max: pool.length - 1 }),
    fc.array(mutation(40), { minLength: 1, maxLength: 4 }),
    fc.boolean(),
    fc.boolean(),
    async (i, ms, fix, row) => {
      const buf = applyMutations(pool[i], ms);
      const r = await oracleAsync(tally, () => imageToDigits(fix ? fixPngCrcs(buf) : buf, 'fuzz.img', row));
      if (r) for (const d of r) assert.equal(d.length, 28 * 28);
    },
  );
  await fuzz(t, 'imageToDigits', tally, prop, 3000, 7);
});

test('a PNG header claiming a gigapixel or a million-pixel side is refused from the header alone; arbitrary bytes are a 415', async (t) => {
  const png = fixPngCrcs(Buffer.from((await bases())[0]));
  for (const [w, h] of [
    [100_000, 100_000],
    [7000, 7000],
    [1_000_000, 24],
    [0x7fffffff, 2],
  ]) {
    const liar = Buffer.from(png);
    liar.writeUInt32BE(w, 16);
    liar.writeUInt32BE(h, 20);
    const t0 = Date.now();
    const before = process.memoryUsage().rss;
    await assert.rejects(imageToDigits(fixPngCrcs(liar), 'liar.png'), (e: unknown) => {
      assert.ok(e instanceof ImageError, String(e));
      assert.doesNotMatch(e.message, /\n/);
      // libspng itself refuses some absurd sizes as a corrupt header (415) before sharp's own limit (413)
      if (w * h > MAX_PIXELS || w > MAX_SIDE) assert.ok([413, 415].includes(e.status), `${e.status} ${e.message}`);
      t.diagnostic(`${w}x${h}: ${e.status} ${e.message}`);
      return true;
    });
    assert.ok(Date.now() - t0 < 2000, `${w}x${h} took ${Date.now() - t0} ms`);
    assert.ok(process.memoryUsage().rss - before < 256 << 20);
  }
  await assert.rejects(
    imageToDigits(Buffer.from('not an image at all'), 'x.png'),
    (e: unknown) => e instanceof ImageError && e.status === 415,
  );
});
