// Each step of the image pipeline on synthetic pictures where its effect can be checked: uneven light
// divided out, ink found in the colour channel that carries it, thin strokes widened to MNIST's, rules
// and frames dropped, and the decoder's share (EXIF orientation, palette and 1-bit PNGs, the first
// picture of a multi-picture file, CMYK and ICC profiles). Blank pages, however lit, are still refused.
import { before, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import sharp from 'sharp';
import { loadDataset, type Dataset } from '../src/data/mnist';
import { decodeImage, ImageError, imageToDigits } from '../src/data/image';
import { inkMap, preprocess, preprocessRow, rgbaToGray, STROKE, WORK_PIXELS, type Picture } from '../src/data/preprocess';
import { boxOf, components, strokeWidth } from '../src/data/strokes';
import { loadModel } from '../src/io/tfjs';
import { classify } from '../src/serve/predict';
import type { Sequential } from '../src/model/sequential';
import { SHARED_MNIST } from './helpers/paths';
import { trainedModelDir } from './helpers/trained';
import { drawable, drawLine, penDrawing, renderRealistic, RENDER_KINDS } from './helpers/renders';
import { geometry } from './helpers/images';

let ds: Dataset;
let model: Sequential;
const digit = (i: number) => ds.test.images.subarray(i * 784, (i + 1) * 784);
const label = (i: number) => ds.test.labels[i];
/** Test digits a pen can draw (no blots), the first n of them. */
const picks = (n: number, from = 0) => {
  const out: number[] = [];
  for (let i = from; out.length < n; i++) if (drawable(digit(i))) out.push(i);
  return out;
};
const read = (ds28: Float32Array[]) => classify(model, ds28).map((p) => p.top[0].digit);

type RGB = [number, number, number];
/** Paper (per pixel, via `paper`) with pen coverage `cov` of ink `ink` (its colour over the paper's, per channel), as RGB bytes. */
function paint(W: number, H: number, paper: (x: number, y: number) => RGB, layers: { cov: Float32Array; ink: RGB }[]): Picture {
  const data = new Uint8ClampedArray(W * H * 3);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      const o = y * W + x,
        p = paper(x, y);
      for (let c = 0; c < 3; c++) {
        let r = 1;
        for (const L of layers) r *= 1 - L.cov[o] * (1 - L.ink[c]);
        data[o * 3 + c] = p[c] * r;
      }
    }
  return { width: W, height: H, channels: 3, data };
}

/** Mean absolute difference of two 28×28s relative to the first's mass. */
function relDiff(a: Float32Array, b: Float32Array): number {
  let d = 0,
    s = 0;
  for (let i = 0; i < a.length; i++) {
    d += Math.abs(a[i] - b[i]);
    s += a[i];
  }
  return d / s;
}

before(() => {
  ds = loadDataset(SHARED_MNIST);
  model = loadModel(trainedModelDir()).model;
});

test('uneven light: a steep gradient and a dark corner are divided out, only the digit is ink', () => {
  const W = 480,
    H = 360;
  for (const i of picks(10)) {
    const cov = penDrawing(digit(i), W, H, { tall: 160, cx: 330, cy: 200, width: 14 });
    // light falls from 245 on the left to under 80 in the bottom-right corner
    const paper = (x: number, y: number): RGB => {
      const l = 245 * (1 - 0.45 * (x / W) - 0.25 * (y / H) ** 2);
      return [l, l, l];
    };
    const pic = paint(W, H, paper, [{ cov, ink: [0.2, 0.2, 0.2] }]);
    const map = inkMap(pic);
    let stray = 0;
    for (let p = 0; p < W * H; p++)
      if (map.ink[p] > 0 && cov[p] === 0) {
        // an anti-aliased rim is fine; ink a few pixels away from any stroke is not
        const x = p % W,
          y = (p / W) | 0;
        let near = false;
        for (let dy = -3; dy <= 3 && !near; dy++)
          for (let dx = -3; dx <= 3 && !near; dx++)
            near = cov[Math.min(H - 1, Math.max(0, y + dy)) * W + Math.min(W - 1, Math.max(0, x + dx))] > 0;
        if (!near) stray++;
      }
    assert.equal(stray, 0, `digit #${i}: ${stray} pixels of paper taken for ink`);
    // and the darkest paper, right beside the digit, is no darker than ink to a global threshold (the
    // evenly lit picture through the same paper estimate, not the flat-paper path)
    const same = preprocess(
      paint(W, H, () => [245, 245, 245], [{ cov, ink: [0.2, 0.2, 0.2] }]),
      { flatPaper: false },
    );
    assert.ok(relDiff(same, preprocess(pic)) < 0.15, `digit #${i}: lit unevenly it reads differently`);
  }
});

test('coloured ink and paper: blue ballpoint on grey paper of the same luminance is found in its colour channels', () => {
  const W = 300,
    H = 300;
  const grey: RGB = [150, 150, 150];
  const ink: RGB = [75 / 150, 165 / 150, 255 / 150]; // (75, 165, 255) on this paper: luma 148 against 150
  const got: Float32Array[] = [],
    want: number[] = [];
  for (const i of picks(20)) {
    const cov = penDrawing(digit(i), W, H, { tall: 200, cx: 150, cy: 150, width: 16 });
    const pic = paint(W, H, () => grey, [{ cov, ink }]);
    // red (75 against 150) and blue (255 against 150, lighter) carry the ink; green (165) hardly
    const map = inkMap(pic);
    assert.ok(map.weights[0] > 0.4 && map.weights[1] < 0.2, `weights ${map.weights.map((w) => w.toFixed(2))}`);
    got.push(preprocess(pic));
    want.push(label(i));
    // gray alone has nothing to go on
    const rgba = new Uint8ClampedArray(W * H * 4);
    for (let p = 0; p < W * H; p++) rgba.set([pic.data[p * 3], pic.data[p * 3 + 1], pic.data[p * 3 + 2], 255], p * 4);
    assert.throws(
      () => preprocess(rgbaToGray(rgba, W, H)),
      (e: unknown) => e instanceof ImageError && e.status === 422,
    );
  }
  const ok = read(got).filter((d, k) => d === want[k]).length;
  assert.ok(ok >= 18, `${ok}/20 read`);
});

test('thin strokes: a 1-pixel pen on a large canvas comes out as thick as MNIST strokes', () => {
  const W = 500,
    H = 500;
  const ids = picks(30);
  const got = ids.map((i, k) => {
    const cov = penDrawing(digit(i), W, H, { tall: 380, cx: 250, cy: 250, width: 1, aliased: k % 2 === 0 });
    return preprocess(paint(W, H, () => [255, 255, 255], [{ cov, ink: [0, 0, 0] }]));
  });
  const rel = (d: Float32Array) => {
    const { comps } = components(d, 28, 28);
    const b = boxOf(comps);
    return strokeWidth(d, 28, 28, b) / Math.max(b.x1 - b.x0 + 1, b.y1 - b.y0 + 1);
  };
  const mnist = ids.map((i) => rel(Float32Array.from(digit(i), (v) => v / 255)));
  const ours = got.map(rel);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  assert.ok(
    mean(ours) >= 0.8 * mean(mnist),
    `stroke width ${mean(ours).toFixed(3)} of the digit against MNIST's ${mean(mnist).toFixed(3)}`,
  );
  assert.ok(Math.min(...ours) >= 0.8 * STROKE.low, `thinnest ${Math.min(...ours).toFixed(3)}`);
  const ok = read(got).filter((d, k) => d === label(ids[k])).length;
  assert.ok(ok >= 26, `${ok}/30 read`);
});

test('ruled paper, a margin and a frame around the digit are dropped: the digit reads as on plain paper', () => {
  const W = 420,
    H = 560;
  for (const i of picks(12)) {
    const cov = penDrawing(digit(i), W, H, { tall: 150, cx: 230, cy: 280, width: 7 });
    const paper = (): RGB => [235, 233, 225];
    const plain = preprocess(paint(W, H, paper, [{ cov, ink: [0.15, 0.15, 0.5] }]));
    // blue rules every 38 px, slightly tilted, and a red margin
    const rules = new Float32Array(W * H),
      margin = new Float32Array(W * H);
    for (let y = 20; y < H; y += 38) drawLine(rules, W, H, 0, y, W, y + 6, 2);
    drawLine(margin, W, H, 60, 0, 62, H, 2);
    const ruled = preprocess(
      paint(W, H, paper, [
        { cov: rules, ink: [0.55, 0.7, 0.95] },
        { cov: margin, ink: [0.9, 0.35, 0.4] },
        { cov, ink: [0.15, 0.15, 0.5] },
      ]),
    );
    // a box drawn around the digit with the same pen, clear of it
    const frame = new Float32Array(W * H);
    for (const [ax, ay, bx, by] of [
      [110, 150, 350, 150],
      [350, 150, 350, 410],
      [350, 410, 110, 410],
      [110, 410, 110, 150],
    ])
      drawLine(frame, W, H, ax, ay, bx, by, 7);
    const framed = preprocess(
      paint(W, H, paper, [
        { cov: frame, ink: [0.15, 0.15, 0.5] },
        { cov, ink: [0.15, 0.15, 0.5] },
      ]),
    );
    for (const [what, d] of [
      ['ruled', ruled],
      ['framed', framed],
    ] as const) {
      const a = geometry(plain),
        b = geometry(d);
      assert.ok(Math.max(...a.box.map((v, k) => Math.abs(v - b.box[k]))) <= 2, `digit #${i} ${what}: box ${b.box} against ${a.box}`);
      assert.ok(Math.hypot(a.cx - b.cx, a.cy - b.cy) <= 1, `digit #${i} ${what}: centre of mass moved`);
      assert.deepEqual(read([d]), read([plain]), `digit #${i} ${what}`);
    }
  }
});

test('a row written on lit paper in blue ink reads left to right', async () => {
  const ids = [picks(1, 1)[0], picks(1, 3)[0], picks(1, 1)[0], picks(1, 11)[0]]; // 2 0 2 6
  const W = 900,
    H = 320;
  const covs = ids.map((i, k) => penDrawing(digit(i), W, H, { tall: 150, cx: 150 + 200 * k, cy: 160, width: 6 }));
  const cov = covs.reduce((a, c) => a.map((v, p) => Math.max(v, c[p])));
  const pic = paint(
    W,
    H,
    (x, y) => {
      const l = 235 - 80 * (x / W) - 30 * (y / H);
      return [l, l, l * 0.95];
    },
    [{ cov, ink: [0.15, 0.15, 0.55] }],
  );
  const png = await sharp(Buffer.from(pic.data), { raw: { width: W, height: H, channels: 3 } })
    .jpeg({ quality: 85 })
    .toBuffer();
  const parts = await imageToDigits(png, 'row.jpg', true);
  assert.equal(read(parts).join(''), ids.map(label).join(''));
  assert.deepEqual(read(preprocessRow(pic)), read(parts));
});

/** A picture of a test digit with a dark stroke on white, as raw RGB for sharp. */
async function digitRaw(i: number, W = 120, H = 160): Promise<{ raw: Buffer; W: number; H: number }> {
  const cov = penDrawing(digit(i), W, H, { tall: 110, cx: W / 2, cy: H / 2, width: 9 });
  return { raw: Buffer.from(paint(W, H, () => [250, 250, 250], [{ cov, ink: [0.05, 0.05, 0.05] }]).data as Uint8ClampedArray), W, H };
}

test('decoding: an EXIF-rotated JPEG comes out upright', async () => {
  const i = picks(1, 7)[0];
  const { raw, W, H } = await digitRaw(i);
  const up = await decodeImage(
    await sharp(raw, { raw: { width: W, height: H, channels: 3 } })
      .jpeg({ quality: 95 })
      .toBuffer(),
  );
  for (const [angle, orientation] of [
    [270, 6],
    [90, 8],
    [180, 3],
  ]) {
    // the sensor's pixels lie sideways; the tag says how to turn them
    const side = await sharp(raw, { raw: { width: W, height: H, channels: 3 } })
      .rotate(angle)
      .raw()
      .toBuffer({ resolveWithObject: true });
    const jpeg = await sharp(side.data, { raw: { width: side.info.width, height: side.info.height, channels: 3 } })
      .withMetadata({ orientation })
      .jpeg({ quality: 95 })
      .toBuffer();
    assert.equal((await sharp(jpeg).metadata()).orientation, orientation);
    const got = await decodeImage(jpeg);
    assert.deepEqual([got.width, got.height], [up.width, up.height], `orientation ${orientation}`);
    assert.ok(relDiff(preprocess(up), preprocess(got)) < 0.1, `orientation ${orientation}`);
  }
});

test('decoding: palette and 1-bit PNGs, 16-bit PNGs, CMYK JPEGs and ICC profiles read like the 8-bit sRGB picture', async () => {
  const i = picks(1, 20)[0];
  const { raw, W, H } = await digitRaw(i);
  const img = () => sharp(raw, { raw: { width: W, height: H, channels: 3 } });
  const base = preprocess(await decodeImage(await img().png().toBuffer()));
  const files: [string, Buffer][] = [
    ['1-bit gray palette', await img().toColourspace('b-w').png({ palette: true, colours: 2 }).toBuffer()],
    ['4-bit palette', await img().png({ palette: true, colours: 16 }).toBuffer()],
    ['16-bit', await img().toColourspace('rgb16').png().toBuffer()],
    ['CMYK JPEG', await img().toColourspace('cmyk').jpeg({ quality: 95 }).toBuffer()],
    ['Display P3 JPEG', await img().withIccProfile('p3').jpeg({ quality: 95 }).toBuffer()],
  ];
  const meta = await sharp(files[0][1]).metadata();
  assert.deepEqual([meta.isPalette, meta.bitsPerSample], [true, 1]);
  for (const [what, buf] of files) {
    const pic = await decodeImage(buf, what);
    // colour as RGB; a grey PNG decoded in-thread comes back as its one grey channel
    assert.ok(pic.channels === 3 || pic.channels === 1, `${what}: ${pic.channels} channels`);
    assert.equal(pic.data.length, pic.width * pic.height * pic.channels, what);
    assert.ok(relDiff(base, preprocess(pic)) < 0.15, `${what}: ${relDiff(base, preprocess(pic)).toFixed(3)}`);
  }
  // the profile is applied, not ignored: a colour comes back as it was
  const px = Buffer.alloc(16 * 16 * 3);
  for (let p = 0; p < 256; p++) px.set([200, 120, 60], p * 3);
  const p3 = await decodeImage(
    await sharp(px, { raw: { width: 16, height: 16, channels: 3 } })
      .withIccProfile('p3')
      .png()
      .toBuffer(),
  );
  assert.ok(
    [200, 120, 60].every((v, c) => Math.abs(p3.data[c] - v) <= 3),
    `P3 decoded to ${Array.from(p3.data).slice(0, 3)}`,
  );
});

test('decoding: plain PNGs read in-thread (grey, grey+alpha, RGB, RGBA, palette, 1-bit, interlaced) give exactly the pixels sharp gives', async () => {
  const i = picks(1, 40)[0];
  const { raw, W, H } = await digitRaw(i);
  // RGB(A) whose colours all agree is read as one channel
  const greyRaw = Buffer.from(raw);
  // a coloured stroke as well, so RGB stays RGB; one colour pixel on the last row, after rows read as grey
  for (let p = 0; p < 30; p++) raw.set([200, 40, 40], (5 * W + 10 + p) * 3);
  raw.set([10, 10, 12], (W * H - 1) * 3);
  const img = () => sharp(raw, { raw: { width: W, height: H, channels: 3 } });
  const grey3 = () => sharp(greyRaw, { raw: { width: W, height: H, channels: 3 } });
  const files: [string, Buffer][] = [
    ['grey as RGB', await grey3().png().toBuffer()],
    ['grey as RGBA', await grey3().ensureAlpha(0.6).png().toBuffer()],
    ['grey', await img().toColourspace('b-w').png().toBuffer()],
    ['grey+alpha', await img().toColourspace('b-w').ensureAlpha(0.4).png().toBuffer()],
    ['RGB', await img().png().toBuffer()],
    ['RGBA', await img().ensureAlpha(0.7).png().toBuffer()],
    ['palette', await img().png({ palette: true, colours: 16 }).toBuffer()],
    ['palette+alpha', await img().ensureAlpha(0.5).png({ palette: true }).toBuffer()],
    ['1-bit', await img().toColourspace('b-w').png({ palette: true, colours: 2 }).toBuffer()],
    ['interlaced', await img().png({ progressive: true }).toBuffer()],
  ];
  for (const [what, buf] of files) {
    const got = await decodeImage(buf, what);
    const { data, info } = await sharp(buf)
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    assert.deepEqual([got.width, got.height], [info.width, info.height], what);
    const ch = got.channels ?? 1;
    let diff = 0;
    for (let p = 0; p < W * H; p++)
      for (let c = 0; c < 3; c++) diff = Math.max(diff, Math.abs(got.data[p * ch + (ch === 1 ? 0 : c)] - data[p * 3 + c]));
    assert.equal(diff, 0, `${what}: pixels differ by up to ${diff}`);
    if (what === 'RGB' || what === 'RGBA') assert.equal(ch, 3, `${what}: a coloured picture keeps its colour`);
    if (what.startsWith('grey')) assert.equal(ch, 1, `${what}: a grey picture is one channel`);
  }
});

/** A PNG of raw samples (n per pixel, colour type `type`) whose row y is stored with filter `filterOf(y)` (PNG spec §9). */
function pngWithFilters(raw: Uint8Array, w: number, h: number, n: number, type: number, filterOf: (y: number) => number): Buffer {
  const stride = w * n,
    rows = Buffer.alloc(h * (stride + 1));
  const at = (y: number, i: number) => (y < 0 || i < 0 ? 0 : raw[y * stride + i]);
  for (let y = 0; y < h; y++) {
    const f = filterOf(y);
    rows[y * (stride + 1)] = f;
    for (let i = 0; i < stride; i++) {
      const a = at(y, i - n),
        b = at(y - 1, i),
        c = at(y - 1, i - n);
      const p = a + b - c,
        pa = Math.abs(p - a),
        pb = Math.abs(p - b),
        pc = Math.abs(p - c);
      const pred = [0, a, b, (a + b) >> 1, pa <= pb && pa <= pc ? a : pb <= pc ? b : c][f];
      rows[y * (stride + 1) + 1 + i] = (raw[y * stride + i] - pred) & 255;
    }
  }
  const crcTable = Array.from({ length: 256 }, (_v, k) => {
    let c = k;
    for (let j = 0; j < 8; j++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const chunk = (tag: string, body: Buffer) => {
    const tb = Buffer.concat([Buffer.from(tag, 'latin1'), body]);
    let crc = 0xffffffff;
    for (const byte of tb) crc = crcTable[(crc ^ byte) & 255] ^ (crc >>> 8);
    const out = Buffer.alloc(tb.length + 8);
    out.writeUInt32BE(body.length, 0);
    tb.copy(out, 4);
    out.writeUInt32BE((crc ^ 0xffffffff) >>> 0, tb.length + 4);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;
  ihdr[9] = type;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(rows)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

test('decoding: each of the five PNG row filters, on the first row and below, reads as sharp reads it', async () => {
  const { raw, W, H } = await digitRaw(picks(1, 41)[0], 37, 23);
  for (let p = 0; p < 9; p++) raw.set([200, 40, 40], (3 * W + 4 + p) * 3);
  const rgba = new Uint8Array(W * H * 4);
  for (let i = 0; i < W * H; i++) rgba.set([raw[3 * i], raw[3 * i + 1], raw[3 * i + 2], (i * 37) % 256], 4 * i);
  const grey = Uint8Array.from({ length: W * H }, (_v, i) => raw[3 * i + 1]);
  const ga = new Uint8Array(W * H * 2);
  for (let i = 0; i < W * H; i++) ga.set([grey[i], 255 - ((i * 11) % 256)], 2 * i);
  const kinds: [string, Uint8Array, number, number][] = [
    ['grey', grey, 1, 0],
    ['RGB', raw, 3, 2],
    ['grey+alpha', ga, 2, 4],
    ['RGBA', rgba, 4, 6],
  ];
  for (const [what, px, n, type] of kinds)
    for (const [order, filterOf] of [
      ['cycling', (y: number) => y % 5],
      ['cycling from 4', (y: number) => (y + 4) % 5],
      ['cycling from 3', (y: number) => (y + 3) % 5],
      ['cycling from 2', (y: number) => (y + 2) % 5],
      ['cycling from 1', (y: number) => (y + 1) % 5],
    ] as const) {
      const buf = pngWithFilters(px, W, H, n, type, filterOf);
      const got = await decodeImage(buf, what);
      const { data, info } = await sharp(buf).flatten({ background: '#ffffff' }).raw().toBuffer({ resolveWithObject: true });
      const ch = got.channels ?? 1;
      assert.equal(ch, info.channels === 1 || n <= 2 ? 1 : 3, `${what}, ${order}`);
      let diff = 0;
      for (let i = 0; i < W * H; i++)
        for (let c = 0; c < info.channels; c++)
          diff = Math.max(diff, Math.abs(got.data[i * ch + (ch === 1 ? 0 : c)] - data[i * info.channels + c]));
      assert.equal(diff, 0, `${what}, filters ${order}: pixels differ by up to ${diff}`);
    }
});

test('a drawing on flat paper is worked at the size its digit needs, and reads as through the full paper estimate', () => {
  // read by the shipped model, the one people's drawings meet
  const shipped = loadModel(path.resolve(__dirname, '../../models/digits-real')).model;
  // [canvas W, H, digit's height, pen width, light ink on black]
  const kinds: [number, number, number, number, boolean][] = [
    [280, 280, 200, 25, false],
    [480, 360, 160, 14, false],
    [300, 300, 220, 20, true],
    [600, 600, 300, 8, false],
    [1000, 400, 100, 8, false],
  ];
  let agree = 0,
    total = 0;
  const right = { fast: 0, full: 0 };
  for (const [W, H, tall, width, light] of kinds) {
    for (const i of picks(24, 100)) {
      const cov = penDrawing(digit(i), W, H, { tall, cx: W / 2, cy: H / 2, width });
      const data = new Uint8ClampedArray(W * H);
      for (let p = 0; p < W * H; p++) data[p] = light ? 255 * Math.min(1, cov[p]) : 255 - 255 * Math.min(1, cov[p]);
      const pic = { width: W, height: H, data };
      const [fast, full] = classify(shipped, [preprocess(pic), preprocess(pic, { flatPaper: false })]).map((p) => p.top[0].digit);
      total++;
      if (fast === full) agree++;
      if (fast === label(i)) right.fast++;
      if (full === label(i)) right.full++;
    }
    // shrunk by a whole factor to about 40 pixels tall (27-53), never below 3-pixel strokes: a 280-pixel canvas's
    // 200-pixel digit by 5
    const cov = penDrawing(digit(picks(1, 100)[0]), W, H, { tall, cx: W / 2, cy: H / 2, width });
    const map = inkMap({ width: W, height: H, data: Uint8ClampedArray.from(cov, (c) => 255 - 255 * Math.min(1, c)) });
    const s = map.height / H;
    assert.ok(s === 1 || (s * width >= 2.5 && s * tall >= 25), `${W}x${H}: worked at ${s.toFixed(2)}`);
    console.log(`${W}x${H}, digit ${tall}, pen ${width}: worked at 1/${(1 / s).toFixed(2)}`);
    if (W === 280) assert.equal(map.height, Math.ceil(280 / 5), 'the 280-pixel canvas shrunk by 5');
    // larger than the full path's budget (a retina canvas): this path still, since the shrunk copy fits
    if (W * H > WORK_PIXELS) assert.equal(map.height, Math.ceil(H / 2), `${W}x${H}: shrunk by 2 (its 8-pixel pen)`);
  }
  // (the few it reads differently are ones either path can read either way: a half-pixel shift of centring)
  assert.ok(agree >= 0.95 * total, `the fast path read ${total - agree} of ${total} drawings differently`);
  assert.ok(right.fast >= right.full - 1, `the fast path read ${right.fast} of ${total} right, the full path ${right.full}`);
  console.log(`fast path: ${agree}/${total} read alike; right: fast ${right.fast}, full ${right.full}`);
  // paper with grain (a photo, a scan) is not flat: it takes the full path, at full size
  const grainy = new Uint8ClampedArray(280 * 280).map((_v, p) => 240 + ((p * 7919) % 9));
  const cov = penDrawing(digit(picks(1, 100)[0]), 280, 280, { tall: 200, cx: 140, cy: 140, width: 25 });
  for (let p = 0; p < cov.length; p++) grainy[p] -= 200 * Math.min(1, cov[p]);
  assert.equal(inkMap({ width: 280, height: 280, data: grainy }).width, 280);
});

test('decoding: the first picture of an animated WebP or a multi-picture JPEG is the one read', async () => {
  const i = picks(1, 30)[0];
  const { raw, W, H } = await digitRaw(i);
  const blank = Buffer.alloc(raw.length, 250);
  const anim = (pages: Buffer[]) =>
    sharp(Buffer.concat(pages), { raw: { width: W, height: H * pages.length, channels: 3, pageHeight: H } })
      .webp({ loop: 0, lossless: true })
      .toBuffer();
  const first = await anim([raw, blank]);
  assert.equal((await sharp(first).metadata()).pages, 2);
  const [d] = await imageToDigits(first, 'anim.webp');
  // the PNG's grey pixels take the flat-paper path, sharp's three channels the full one: compare like with like
  const base = preprocess(
    await decodeImage(
      await sharp(raw, { raw: { width: W, height: H, channels: 3 } })
        .png()
        .toBuffer(),
    ),
    { flatPaper: false },
  );
  assert.ok(relDiff(base, d) < 0.1);
  await assert.rejects(imageToDigits(await anim([blank, raw]), 'anim.webp'), (e: unknown) => e instanceof ImageError && e.status === 422);
  // a multi-picture JPEG (MPO) is its primary picture followed by the others
  const jpeg = (b: Buffer) =>
    sharp(b, { raw: { width: W, height: H, channels: 3 } })
      .jpeg({ quality: 95 })
      .toBuffer();
  const [m] = await imageToDigits(Buffer.concat([await jpeg(raw), await jpeg(blank)]), 'mpo.jpg');
  assert.ok(relDiff(base, m) < 0.1);
});

test('blank pages are refused however they are lit, coloured or ruled; faint pencil is not', async () => {
  const empty = new Uint8Array(784);
  let refused = 0,
    n = 0;
  for (const kind of RENDER_KINDS.filter((k) => k !== 'frame'))
    for (let s = 1; s <= 4; s++) {
      n++;
      try {
        await imageToDigits(await renderRealistic(empty, kind, s, empty), `blank ${kind}`);
      } catch (e) {
        assert.ok(e instanceof ImageError && e.status === 422 && /no digit found/.test(e.message), String(e));
        refused++;
      }
    }
  assert.ok(refused >= n - 2, `${refused}/${n} blank pages refused`);
  // pencil at 10% contrast on clean paper is a digit
  const W = 200,
    H = 200;
  const i = picks(1, 40)[0];
  const cov = penDrawing(digit(i), W, H, { tall: 150, cx: 100, cy: 100, width: 8 });
  const pic = paint(W, H, () => [225, 225, 228], [{ cov, ink: [0.9, 0.9, 0.9] }]);
  assert.equal(read([preprocess(pic)])[0], label(i));
});
