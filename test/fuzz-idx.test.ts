// Property-based fuzzing of the idx reader and its gzip layer: valid files mutated at the byte level,
// lying headers, corrupt and oversized gzip streams. Every input parses consistently or fails with a
// one-line DigitsError, quickly and without allocating what a header claims.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import fc from 'fast-check';
import { parseIdx, readIdx, MAX_IDX_ELEMENTS } from '../src/data/idx';
import { loadDataset, loadSplitFiles } from '../src/data/mnist';
import { idxBuffer, tempDir, expectDigitsError } from './helpers/datafixtures';
import { applyMutations, fuzz, interestingU32, mutation, newTally, oracle } from './helpers/fuzz';

/** A valid idx file of 1–4 small dimensions with arbitrary bytes. */
const validIdx = fc
  .array(fc.integer({ min: 0, max: 6 }), { minLength: 1, maxLength: 4 })
  .chain((dims) =>
    fc
      .uint8Array({ minLength: dims.reduce((a, b) => a * b, 1), maxLength: dims.reduce((a, b) => a * b, 1) })
      .map((data) => idxBuffer({ dims, data })),
  );

function checkParsed(buf: Uint8Array, r: { dims: number[]; data: Uint8Array }): void {
  const n = r.dims.reduce((a, b) => a * b, 1);
  assert.equal(r.data.length, n);
  assert.ok(n <= MAX_IDX_ELEMENTS);
  assert.equal(buf.length, 4 + 4 * r.dims.length + n);
}

test('fuzz parseIdx: arbitrary bytes and mutated valid files', async (t) => {
  const tally = newTally();
  const prop = fc.property(
    fc.oneof(
      fc.uint8Array({ maxLength: 40 }),
      fc.tuple(validIdx, fc.array(mutation(24), { minLength: 1, maxLength: 4 })).map(([b, ms]) => applyMutations(b, ms)),
      // a header that claims billions of elements over a short body
      fc
        .tuple(fc.array(interestingU32, { minLength: 1, maxLength: 4 }), fc.uint8Array({ maxLength: 32 }))
        .map(([dims, body]) => Buffer.concat([idxBuffer({ dims, data: [] }).subarray(0, 4 + 4 * dims.length), body])),
    ),
    (buf) => {
      const r = oracle(tally, () => parseIdx(buf, 'fuzz.idx'));
      if (r) checkParsed(buf, r);
    },
  );
  await fuzz(t, 'parseIdx', tally, prop, 20000, 6);
});

test('fuzz readIdx: raw and gzip files, corrupt streams, bombs past maxBytes', async (t) => {
  const dir = tempDir('digits-fuzz-idx-');
  const file = path.join(dir, 'f');
  const tally = newTally();
  const prop = fc.property(
    validIdx,
    fc.boolean(),
    fc.array(mutation(24), { maxLength: 3 }),
    fc.array(mutation(12), { maxLength: 3 }),
    fc.integer({ min: 1, max: 4096 }),
    fc.integer({ min: 0, max: 200_000 }),
    (idx, gzip, inner, outer, maxBytes, padding) => {
      // padding makes some files compress far beyond maxBytes: a small bomb
      const content = padding > 150_000 ? Buffer.concat([idx, Buffer.alloc(padding)]) : applyMutations(idx, inner);
      const bytes = gzip ? applyMutations(zlib.gzipSync(content), outer) : content;
      fs.writeFileSync(file, bytes);
      const r = oracle(tally, () => readIdx(file, { maxBytes }));
      if (r) assert.ok(r.data.length <= maxBytes);
    },
  );
  try {
    await fuzz(t, 'readIdx (+gzip)', tally, prop, 4000, 5);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('fuzz loadSplitFiles: mutated image/label pairs as the CLI loads them', async (t) => {
  const dir = tempDir('digits-fuzz-split-');
  const images = path.join(dir, 'images.gz'),
    labels = path.join(dir, 'labels');
  const tally = newTally();
  const prop = fc.property(
    fc.integer({ min: 1, max: 5 }),
    fc.integer({ min: 1, max: 6 }),
    fc.array(mutation(20), { maxLength: 3 }),
    fc.array(mutation(12), { maxLength: 3 }),
    (n, side, mi, ml) => {
      fs.writeFileSync(images, zlib.gzipSync(applyMutations(idxBuffer({ dims: [n, side, side] }), mi)));
      fs.writeFileSync(labels, applyMutations(idxBuffer({ dims: [n], data: Array.from({ length: n }, (_v, i) => i % 10) }), ml));
      const r = oracle(tally, () => loadSplitFiles(images, labels));
      if (r) {
        assert.equal(r.split.images.length, r.split.count * r.height * r.width);
        assert.equal(r.split.labels.length, r.split.count);
      }
    },
  );
  try {
    await fuzz(t, 'loadSplitFiles', tally, prop, 3000, 4);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('headers claiming four billion images, and a 64 MiB gzip bomb, fail fast without allocating', () => {
  const dir = tempDir('digits-fuzz-big-');
  const before = process.memoryUsage().rss;
  const liar = Buffer.concat([idxBuffer({ dims: [4_000_000_000, 28, 28], data: [] }).subarray(0, 16), Buffer.alloc(784)]);
  expectDigitsError(() => parseIdx(liar, 'liar'), /^liar: header claims .* elements .*more than the limit/);
  const f = path.join(dir, 'liar.gz');
  fs.writeFileSync(f, zlib.gzipSync(liar));
  expectDigitsError(() => readIdx(f), /more than the limit/);
  const bomb = path.join(dir, 'bomb.gz');
  fs.writeFileSync(bomb, zlib.gzipSync(Buffer.alloc(64 << 20)));
  const t0 = Date.now();
  expectDigitsError(() => readIdx(bomb, { maxBytes: 1 << 20 }), /decompresses to more than the limit of 1048576 bytes/);
  assert.ok(Date.now() - t0 < 2000);
  assert.ok(process.memoryUsage().rss - before < 256 << 20, 'no allocation sized by the header');
  fs.rmSync(dir, { recursive: true, force: true });
});

test('fuzz loadDataset: label files with stray values are refused naming file, index and value, or load with labels inside the classes', async (t) => {
  const dir = tempDir('digits-fuzz-labels-');
  const tally = newTally();
  const write = (base: string, labels: number[]) => {
    fs.writeFileSync(
      path.join(dir, `${base.replace('labels', 'images').replace('idx1', 'idx3')}.gz`),
      zlib.gzipSync(idxBuffer({ dims: [labels.length, 2, 2] })),
    );
    fs.writeFileSync(path.join(dir, `${base}.gz`), zlib.gzipSync(idxBuffer({ dims: [labels.length], data: labels })));
  };
  // a valid dataset of k classes, then maybe a stray byte in either file (the corrupted label of issue 18)
  const labelsOf = (k: number, extra: number[]) => [...Array.from({ length: k }, (_v, i) => i), ...extra.map((v) => v % k)];
  const prop = fc.property(
    fc.integer({ min: 2, max: 12 }),
    fc.array(fc.nat(), { maxLength: 20 }),
    fc.array(fc.nat(), { minLength: 1, maxLength: 10 }),
    fc.option(fc.tuple(fc.boolean(), fc.nat(), fc.integer({ min: 0, max: 255 })), { nil: undefined }),
    fc.option(fc.integer({ min: 2, max: 12 }), { nil: undefined }),
    (k, extraTrain, extraTest, stray, fixed) => {
      const train = labelsOf(k, extraTrain),
        test = extraTest.map((v) => v % k);
      if (stray) {
        const [inTrain, at, v] = stray;
        const a = inTrain ? train : test;
        a[at % a.length] = v;
      }
      const classes = fixed;
      write('train-labels-idx1-ubyte', train);
      write('t10k-labels-idx1-ubyte', test);
      const ds = oracle(tally, () => loadDataset(dir, classes));
      if (!ds) return;
      // accepted: every label is a class of the model, and (counted from the labels) every class is trained on
      assert.ok([...train, ...test].every((l) => l < ds.classes));
      if (classes === undefined) assert.equal(new Set(train).size, ds.classes);
      else assert.equal(ds.classes, classes);
    },
  );
  try {
    await fuzz(t, 'loadDataset labels', tally, prop, 2000, 4);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
