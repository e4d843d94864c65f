// The pipeline measured on pictures like users' own (part 4 of issue 17): a deterministic set of
// realistic renders of MNIST test digits (test/helpers/renders.ts: pens of every width and colour on
// lit, coloured, ruled or framed paper, phone photos with EXIF rotation and JPEG noise, small digits on
// wide canvases, 1-pixel strokes, blurry crops) read by a real trained model, against the same model
// on the original digits; and the 60 real digits people drew or photographed (../shared/real-digits).
import { before, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { loadDataset, toTensor, type Dataset } from '../src/data/mnist';
import { imageToDigits, readImageFile } from '../src/data/image';
import { loadModel } from '../src/io/tfjs';
import { classify } from '../src/serve/predict';
import type { Sequential } from '../src/model/sequential';
import { SHARED_MNIST } from './helpers/paths';
import { trainedModelDir } from './helpers/trained';
import { renderPlan, renderRealistic, RENDER_KINDS } from './helpers/renders';

const REAL = process.env.DIGITS_REAL_DIGITS ?? path.resolve(__dirname, '../../../shared/real-digits');
const PER_KIND = 24;

let ds: Dataset;
let model: Sequential;

before(() => {
  ds = loadDataset(SHARED_MNIST);
  model = loadModel(trainedModelDir()).model;
});

test(`${PER_KIND * RENDER_KINDS.length} realistic renders of test digits read nearly as well as the digits themselves`, async (t) => {
  const plan = renderPlan(ds.test.labels, ds.test.images, PER_KIND);
  const img = (i: number) => ds.test.images.subarray(i * 784, (i + 1) * 784);
  const seen: Float32Array[] = [];
  let refused = 0;
  for (const p of plan) {
    const buf = await renderRealistic(img(p.index), p.kind, p.seed, img((p.index + 1) % ds.test.labels.length));
    try {
      seen.push((await imageToDigits(buf, `${p.kind} #${p.seed}`))[0]);
    } catch (e) {
      refused++;
      seen.push(new Float32Array(784));
      t.diagnostic(`${p.kind} #${p.seed}: ${(e as Error).message}`);
    }
  }
  const got = classify(model, seen).map((q) => q.top[0].digit);
  const clean = classify(
    model,
    plan.map((p) => Float32Array.from(img(p.index), (v) => v / 255)),
  ).map((q) => q.top[0].digit);
  const per = new Map<string, { ok: number; clean: number; n: number }>();
  let ok = 0,
    okClean = 0;
  plan.forEach((p, k) => {
    const y = ds.test.labels[p.index],
      r = per.get(p.kind) ?? { ok: 0, clean: 0, n: 0 };
    r.n++;
    if (got[k] === y) {
      r.ok++;
      ok++;
    }
    if (clean[k] === y) {
      r.clean++;
      okClean++;
    }
    per.set(p.kind, r);
  });
  for (const [kind, r] of per) t.diagnostic(`${kind}: ${r.ok}/${r.n} read (the digits themselves: ${r.clean}/${r.n})`);
  const acc = ok / plan.length,
    accClean = okClean / plan.length;
  t.diagnostic(
    `all: ${(acc * 100).toFixed(1)}% of ${plan.length} (the digits themselves: ${(accClean * 100).toFixed(1)}%), ${refused} refused`,
  );
  assert.equal(refused, 0);
  // measured with this model: 95-96% of renders against 96% of the digits themselves
  assert.ok(acc >= 0.92, `renders read ${(acc * 100).toFixed(1)}%`);
  assert.ok(acc >= accClean - 0.04, `renders ${(acc * 100).toFixed(1)}% against ${(accClean * 100).toFixed(1)}% for the digits themselves`);
  for (const [kind, r] of per) assert.ok(r.ok >= 0.8 * r.n, `${kind}: ${r.ok}/${r.n}`);
});

const realRows = () =>
  fs
    .readFileSync(path.join(REAL, 'labels.csv'), 'utf8')
    .trim()
    .split(/\r?\n/)
    .slice(1)
    .map((l) => l.split(',').map((f) => f.trim()));

/** The real digits read by `m`: the misreads (refusals throw, and fail the test, since none may be refused). */
async function readReal(m: Sequential, t: { diagnostic(s: string): void }): Promise<{ read: number; total: number }> {
  const rows = realRows();
  const seen: Float32Array[] = [];
  for (const [file] of rows) seen.push((await imageToDigits(await readImageFile(path.join(REAL, file)), file))[0]);
  const got = classify(m, seen).map((q) => q.top[0].digit);
  const wrong = rows.filter((r, k) => got[k] !== Number(r[1])).map((r) => `${r[0]} (${r[8]}): ${r[1]} read as ${got[rows.indexOf(r)]}`);
  for (const w of wrong) t.diagnostic(w);
  t.diagnostic(`${rows.length - wrong.length}/${rows.length} read`);
  return { read: rows.length - wrong.length, total: rows.length };
}

const noReal = fs.existsSync(path.join(REAL, 'labels.csv')) ? false : `${REAL} not found`;

test('the 60 real digits (paint programs, canvases, phone photos of paper) are read, none refused', { skip: noReal }, async (t) => {
  // this small test model reads 56-57; a fully trained seed002-cnn reads all 60
  const r = await readReal(model, t);
  assert.ok(r.read >= 55, `${r.read}/${r.total}`);
});

test(
  'the shipped model (models/digits-real): >= 99.5% on MNIST, >= 59 of the 60 real digits, none refused, under 2 MB',
  { skip: noReal },
  async (t) => {
    const dir = path.resolve(__dirname, '../../models/digits-real');
    const bytes = fs.readdirSync(dir).reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
    assert.ok(bytes < 2 << 20, `${bytes} bytes`);
    const shipped = loadModel(dir).model;
    const te = toTensor(ds.test, ds.height, ds.width, ds.classes);
    const acc = shipped.evaluate(
      { shape: [ds.test.count, ds.height, ds.width, 1], data: te.x },
      { shape: [ds.test.count, ds.classes], data: te.y },
    ).accuracy;
    t.diagnostic(`MNIST test accuracy ${(acc * 100).toFixed(2)}%, ${(bytes / 1024).toFixed(0)} KiB`);
    assert.ok(acc >= 0.995, `MNIST ${(acc * 100).toFixed(2)}%`);
    const r = await readReal(shipped, t);
    assert.ok(r.read >= 59, `${r.read}/${r.total}`);
  },
);

test(
  'rows a person writes ("2026", "82", "0147"), made of the real digits, are read left to right by the shipped model',
  { skip: noReal },
  async (t) => {
    const shipped = loadModel(path.resolve(__dirname, '../../models/digits-real')).model;
    // a row in one medium: the first picture of each digit drawn in a paint program (dark on white) or on a
    // canvas (light on black), side by side on that medium's background
    const media = { paint: '#ffffff', canvas: '#000000' } as const;
    for (const [kind, background] of Object.entries(media)) {
      const rows = realRows().filter((r) => r[8] === kind);
      const fileOf = (d: string) => rows.find((r) => r[1] === d)![0];
      for (const want of ['2026', '82', '0147']) {
        const tiles = await Promise.all(
          [...want].map((d) =>
            sharp(path.join(REAL, fileOf(d)))
              .flatten({ background })
              .resize(300, 300, { fit: 'fill' })
              .png()
              .toBuffer(),
          ),
        );
        const strip = await sharp({ create: { width: 300 * want.length, height: 300, channels: 3, background } })
          .composite(tiles.map((input, i) => ({ input, left: 300 * i, top: 0 })))
          .png()
          .toBuffer();
        const got = classify(shipped, await imageToDigits(strip, `${kind} row ${want}`, true))
          .map((p) => p.top[0].digit)
          .join('');
        t.diagnostic(`${kind} ${want} (${[...want].map(fileOf).join(' ')}) read as ${got}`);
        assert.equal(got, want, `${kind} row ${want}`);
      }
    }
  },
);
