// The image pipeline: MNIST test digits re-rendered as users' pictures must come back as (nearly) the
// same 28×28 and be classified like the originals; blank, broken and oversized files are refused with
// one-line errors before any large allocation.
import { before, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { loadDataset, type Dataset } from '../src/data/mnist';
import { decodeImage, ImageError, imageToDigits, MAX_FILE_BYTES, preprocess, readImageFile } from '../src/data/image';
import { loadModel } from '../src/io/tfjs';
import { classify } from '../src/serve/predict';
import type { Sequential } from '../src/model/sequential';
import { run } from '../src/cli/main';
import { SHARED_MNIST } from './helpers/paths';
import { tempDir } from './helpers/datafixtures';
import { trainedModelDir } from './helpers/trained';
import { blankPng, geometry, hugePngHeader, renderDigit, renderRow, VARIANTS } from './helpers/images';

const N = 50; // digits per variant
let ds: Dataset;
let model: Sequential;
let modelDir: string;

const digit = (i: number) => ds.test.images.subarray(i * 784, (i + 1) * 784);
const toFloat = (d: Uint8Array) => Float32Array.from(d, (v) => v / 255);

async function expectImageError(p: Promise<unknown>, status: number, re: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof ImageError, `expected ImageError, got ${String(e)}`);
    assert.equal(e.status, status, e.message);
    assert.match(e.message, re);
    assert.doesNotMatch(e.message, /\n/);
    return true;
  });
}

before(() => {
  ds = loadDataset(SHARED_MNIST);
  modelDir = trainedModelDir();
  model = loadModel(modelDir).model;
});

test('an MNIST digit already in MNIST form passes through (nearly) unchanged', () => {
  let rel = 0;
  for (let i = 0; i < 200; i++) {
    const o = toFloat(digit(i)),
      p = preprocess({ width: 28, height: 28, data: digit(i) });
    let d = 0,
      s = 0;
    for (let j = 0; j < 784; j++) {
      d += Math.abs(p[j] - o[j]);
      s += o[j];
    }
    rel += d / s / 200;
  }
  assert.ok(rel < 0.1, `mean relative L1 change ${rel.toFixed(3)}`);
});

test('re-rendered digits (large, off-centre, noisy, inverted, PNG/JPEG/WebP/RGBA) read back like the originals', async (t) => {
  const originals = Array.from({ length: N }, (_v, i) => toFloat(digit(i)));
  const want = classify(model, originals).map((p) => p.top[0].digit);
  const lines: string[] = [];
  let agreeAll = 0;
  for (const variant of VARIANTS) {
    const got: Float32Array[] = [];
    let edge = 0,
      com = 0,
      within2 = 0;
    for (let i = 0; i < N; i++) {
      const [d] = await imageToDigits(await renderDigit(digit(i), variant, i + 1), `${variant} #${i}`);
      got.push(d);
      const a = geometry(originals[i]),
        b = geometry(d);
      const worst = Math.max(...a.box.map((v, k) => Math.abs(v - b.box[k])));
      edge += worst / N;
      within2 += worst <= 2 ? 1 : 0;
      com += Math.hypot(a.cx - b.cx, a.cy - b.cy) / N;
    }
    const agree = classify(model, got).filter((p, i) => p.top[0].digit === want[i]).length;
    agreeAll += agree;
    lines.push(
      `${variant}: agreement ${agree}/${N}, ink box edges off by ${edge.toFixed(2)} px on average (${within2}/${N} within 2 px), centre of mass off by ${com.toFixed(2)} px`,
    );
    assert.ok(within2 >= 0.9 * N, lines.at(-1));
    assert.ok(com < 1, lines.at(-1));
    assert.ok(agree >= 0.9 * N, lines.at(-1));
  }
  const rate = agreeAll / (N * VARIANTS.length);
  lines.push(`overall agreement with the originals' predictions: ${(rate * 100).toFixed(1)}% of ${N * VARIANTS.length}`);
  for (const l of lines) t.diagnostic(l);
  assert.ok(rate >= 0.95, lines.at(-1));
});

test('a row of digits splits into connected components read left to right', async () => {
  const picks = [3, 2, 1, 18, 4]; // test digits labelled 0 1 2 3 4
  const row = await renderRow(picks.map(digit));
  const parts = await imageToDigits(row, 'row', true);
  assert.equal(parts.length, picks.length);
  const want = classify(
    model,
    picks.map((i) => toFloat(digit(i))),
  )
    .map((p) => p.top[0].digit)
    .join('');
  const got = classify(model, parts)
    .map((p) => p.top[0].digit)
    .join('');
  assert.equal(got, want);
});

test('blank and contrast-less pictures are refused, not guessed', async () => {
  await expectImageError(imageToDigits(await blankPng(255), 'white.png'), 422, /^white\.png: no digit found/);
  await expectImageError(imageToDigits(await blankPng(0), 'black.png'), 422, /no digit found/);
  const grain = Buffer.from(Array.from({ length: 96 * 96 }, (_v, i) => 200 + ((i * 7919) % 13)));
  const noisy = await sharp(grain, { raw: { width: 96, height: 96, channels: 1 } })
    .jpeg()
    .toBuffer();
  await expectImageError(imageToDigits(noisy, 'paper.jpg'), 422, /no digit found/);
});

test('broken, foreign and oversized files give one-line errors before decoding', async () => {
  const png = await renderDigit(digit(0), 'png', 1);
  await expectImageError(decodeImage(Buffer.alloc(0), 'empty.png'), 400, /empty file/);
  await expectImageError(decodeImage(Buffer.from('hello, not an image'), 'x.png'), 415, /not a PNG, JPEG or WebP/);
  await expectImageError(decodeImage(png.subarray(0, png.length >> 1), 'half.png'), 400, /cannot decode the PNG/);
  await expectImageError(
    decodeImage(hugePngHeader(10_000, 10_000), 'bomb.png'),
    413,
    /^bomb\.png: 10000x10000 pixels, more than the 40 megapixel limit$/,
  );
  await expectImageError(
    decodeImage(hugePngHeader(30_000, 30_000), 'bomb.png'),
    413,
    /^bomb\.png: (30000x30000 pixels, )?more than the 40 megapixel limit$/,
  );
  const gif = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#fff' } })
    .gif()
    .toBuffer();
  await expectImageError(decodeImage(gif, 'a.gif'), 415, /gif images are not supported/);
  await expectImageError(decodeImage(Buffer.alloc(MAX_FILE_BYTES + 1), 'big.png'), 413, /MiB limit/);
  const dir = tempDir();
  const big = path.join(dir, 'big.png');
  fs.writeFileSync(big, '');
  fs.truncateSync(big, MAX_FILE_BYTES + 1); // sparse: the size is refused from stat alone
  await expectImageError(readImageFile(big), 413, /MiB limit/);
  await expectImageError(readImageFile(path.join(dir, 'missing.png')), 400, /missing\.png: cannot read \(ENOENT\)/);
});

test('digits predict <model> <images...> --json --show; --index still works; neither is a usage error', async () => {
  const dir = tempDir();
  const files = await Promise.all(
    [
      ['a.png', 'png'],
      ['b.jpg', 'jpeg'],
      ['c.webp', 'webp'],
    ].map(async ([name, v], i) => {
      const f = path.join(dir, name);
      fs.writeFileSync(f, await renderDigit(digit(i), v as 'png', i + 7));
      return f;
    }),
  );
  const cap = () => {
    const o = { out: '', err: '' };
    return {
      o,
      io: {
        stdout: (s: string) => {
          o.out += s;
        },
        stderr: (s: string) => {
          o.err += s;
        },
      },
    };
  };
  const show = path.join(dir, 'seen.png');
  let c = cap();
  assert.equal(await run(['node', 'digits', 'predict', modelDir, ...files, '--json', '--show', show], c.io), 0, c.o.err);
  const { results } = JSON.parse(c.o.out);
  assert.deepEqual(
    results.map((r: { file: string }) => r.file),
    files,
  );
  const want = classify(
    model,
    [0, 1, 2].map((i) => toFloat(digit(i))),
  ).map((p) => p.top[0].digit);
  assert.deepEqual(
    results.map((r: { top: { digit: number }[] }) => r.top[0].digit),
    want,
  );
  assert.equal(results[0].top.length, 3);
  assert.equal(results[0].probabilities.length, 10);
  assert.deepEqual(
    await sharp(show)
      .metadata()
      .then((m) => [m.width, m.height]),
    [3 * 28 * 8, 28 * 8],
  );

  c = cap();
  assert.equal(await run(['node', 'digits', 'predict', modelDir, files[0]], c.io), 0);
  assert.match(c.o.out, new RegExp(`^${files[0].replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: ${want[0]}\\n  ${want[0]} +\\d+\\.\\d\\d%`));

  const blank = path.join(dir, 'blank.png');
  fs.writeFileSync(blank, await blankPng());
  c = cap();
  assert.equal(await run(['node', 'digits', 'predict', modelDir, files[0], blank], c.io), 1);
  assert.equal(
    c.o.err,
    `digits: ${blank}: no digit found: the image is blank or has too little contrast\ndigits: 1 of 2 images could not be read\n`,
  );

  c = cap();
  assert.equal(await run(['node', 'digits', 'predict', '--model', modelDir], c.io), 2);
  assert.match(c.o.err, /give image files or --index N/);

  c = cap();
  assert.equal(await run(['node', 'digits', 'predict', modelDir, '--index', '0', '--data', SHARED_MNIST, '--json'], c.io), 0, c.o.err);
  assert.equal(JSON.parse(c.o.out).label, ds.test.labels[0]);
});
