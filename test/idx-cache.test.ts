// The decoded-idx cache (src/data/idx-cache.ts): served only for the exact source bytes it was decoded
// from, written atomically, beside the data or (read-only data) under ~/.cache/digits; and the float
// loader the speedrun uses gives toTensor's values to the bit.
import { test, describe, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { readIdx } from '../src/data/idx';
import { ENTRY_HEADER_BYTES, entryPaths, MIN_CACHED_SOURCE_BYTES } from '../src/data/idx-cache';
import { loadDataset, MNIST_FILES } from '../src/data/mnist';
import { expectDigitsError, idxBuffer, tempDir, writeIdx } from './helpers/datafixtures';

/** Incompressible deterministic pixels, so the gzip file passes the cache's 1 MiB threshold. */
function pixels(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

const N = 1600,
  H = 28,
  W = 28; // 1.25 MB of pixels

function writeImages(file: string, seed: number): Uint8Array {
  const data = pixels(N * H * W, seed);
  writeIdx(file, { dims: [N, H, W], data }, true);
  assert.ok(fs.statSync(file).size >= MIN_CACHED_SOURCE_BYTES);
  return data;
}

describe('decoded idx cache', () => {
  const home = process.env.HOME;
  let fakeHome: string;
  before(() => {
    fakeHome = tempDir('digits-home-');
    process.env.HOME = fakeHome;
    delete process.env.DIGITS_DATA_CACHE;
  });
  after(() => {
    process.env.HOME = home;
  });

  test('a gzipped source leaves an entry beside the data that later reads are served from', () => {
    const dir = tempDir('digits-cache-');
    const file = path.join(dir, 'imgs.gz');
    const data = writeImages(file, 1);
    const [beside] = entryPaths(file);
    assert.equal(beside, path.join(dir, '.digits-cache', 'imgs.gz.decoded'));
    assert.deepEqual(readIdx(file, { cache: true }).data, data);
    assert.equal(fs.statSync(beside).size, ENTRY_HEADER_BYTES + 16 + N * H * W);
    assert.deepEqual(fs.readdirSync(path.dirname(beside)), ['imgs.gz.decoded'], 'no temp file left');
    // proof the entry is what gets read: mark a payload byte, and the reader sees it
    const fd = fs.openSync(beside, 'r+');
    fs.writeSync(fd, Buffer.from([255 - data[5]]), 0, 1, ENTRY_HEADER_BYTES + 16 + 5);
    fs.closeSync(fd);
    assert.equal(readIdx(file, { cache: true }).data[5], 255 - data[5]);
    // without the option (and with DIGITS_DATA_CACHE=0) the source is decoded
    assert.equal(readIdx(file).data[5], data[5]);
    process.env.DIGITS_DATA_CACHE = '0';
    try {
      assert.equal(readIdx(file, { cache: true }).data[5], data[5]);
    } finally {
      delete process.env.DIGITS_DATA_CACHE;
    }
  });

  test('a changed source is never served from the old entry, even with the same size and timestamps', () => {
    const dir = tempDir('digits-cache-');
    const file = path.join(dir, 'imgs.gz');
    writeImages(file, 2);
    const st = fs.statSync(file);
    // same length, same mtime: only the bytes differ (as `cp -p` over it, or a restore, would leave it);
    // stored (level 0) gzip makes the length depend on the data's length only
    const other = pixels(N * H * W, 3);
    const gz = zlib.gzipSync(idxBuffer({ dims: [N, H, W], data: other }), { level: 0 });
    const before = zlib.gzipSync(idxBuffer({ dims: [N, H, W], data: pixels(N * H * W, 2) }), { level: 0 });
    fs.writeFileSync(file, before);
    fs.utimesSync(file, st.atime, st.mtime);
    readIdx(file, { cache: true });
    assert.equal(gz.length, before.length);
    fs.writeFileSync(file, gz);
    fs.utimesSync(file, st.atime, st.mtime);
    assert.deepEqual(readIdx(file, { cache: true }).data, other);
    // and the entry now holds the new bytes
    const entry = fs.readFileSync(entryPaths(file)[0]);
    assert.deepEqual(new Uint8Array(entry.subarray(ENTRY_HEADER_BYTES + 16)), other);
  });

  test('a read-only data directory (by its mode bits, even for root) gets its entry under ~/.cache/digits', () => {
    const dir = tempDir('digits-cache-ro-');
    const file = path.join(dir, 'imgs.gz');
    const data = writeImages(file, 4);
    fs.chmodSync(dir, 0o555);
    try {
      assert.deepEqual(readIdx(file, { cache: true }).data, data);
      assert.deepEqual(fs.readdirSync(dir), ['imgs.gz'], 'nothing written into the data directory');
      const home = entryPaths(file)[1];
      assert.ok(home.startsWith(path.join(fakeHome, '.cache', 'digits', 'decoded') + path.sep), home);
      assert.ok(fs.existsSync(home));
      assert.deepEqual(readIdx(file, { cache: true }).data, data);
    } finally {
      fs.chmodSync(dir, 0o755);
    }
  });

  test('a damaged or truncated entry is a miss: decoded again and rewritten', () => {
    const dir = tempDir('digits-cache-');
    const file = path.join(dir, 'imgs.gz');
    const data = writeImages(file, 5);
    readIdx(file, { cache: true });
    const entry = entryPaths(file)[0];
    fs.truncateSync(entry, 1000);
    assert.deepEqual(readIdx(file, { cache: true }).data, data);
    assert.equal(fs.statSync(entry).size, ENTRY_HEADER_BYTES + 16 + N * H * W);
    fs.writeFileSync(entry, 'not an entry');
    assert.deepEqual(readIdx(file, { cache: true }).data, data);
  });

  test('loadDataset reads the same through the cache, cold or warm, with the same checks', () => {
    const dir = tempDir('digits-cache-ds-');
    const labels = (n: number) => Array.from({ length: n }, (_, i) => i % 10);
    writeImages(path.join(dir, `${MNIST_FILES.trainImages}.gz`), 7);
    writeIdx(path.join(dir, `${MNIST_FILES.trainLabels}.gz`), { dims: [N], data: labels(N) }, true);
    writeIdx(path.join(dir, `${MNIST_FILES.testImages}.gz`), { dims: [50, H, W], data: pixels(50 * H * W, 8) }, true);
    writeIdx(path.join(dir, `${MNIST_FILES.testLabels}.gz`), { dims: [50], data: labels(50) }, true);
    process.env.DIGITS_DATA_CACHE = '0';
    const ref = loadDataset(dir, 10);
    delete process.env.DIGITS_DATA_CACHE;
    for (const pass of ['cold', 'warm']) {
      const d = loadDataset(dir, 10);
      assert.deepEqual(d.train.images, ref.train.images, pass);
      assert.deepEqual(d.test.images, ref.test.images, pass);
      assert.deepEqual(d.test.labels, ref.test.labels, pass);
    }
    assert.ok(fs.existsSync(path.join(dir, '.digits-cache', `${MNIST_FILES.trainImages}.gz.decoded`)));
    // a label outside the classes names the file, cache or not
    writeIdx(path.join(dir, `${MNIST_FILES.testLabels}.gz`), { dims: [50], data: [...labels(49), 12] }, true);
    expectDigitsError(() => loadDataset(dir, 10), /t10k-labels-idx1-ubyte\.gz: label 12 at index 49 is outside the model's 10 classes/);
  });
});
