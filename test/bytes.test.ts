// Images as bytes (ByteTensor: b stands for b / 255) train, evaluate and predict exactly as the same
// images as floats: the speedrun keeps MNIST as bytes and converts a batch at a time.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Sequential } from '../src/model/sequential';
import { Conv2D, Dense, Flatten, MaxPooling2D } from '../src/layers';
import { Rng } from '../src/rng';
import { bytesToFloat, gatherBytesToFloat } from '../src/tensor';

function model(): Sequential {
  const m = new Sequential({ seed: 3 });
  m.add(new Conv2D({ filters: 4, kernelSize: 3, activation: 'relu', inputShape: [8, 8, 1] }));
  m.add(new MaxPooling2D({ poolSize: 2 }));
  m.add(new Flatten());
  m.add(new Dense({ units: 3, activation: 'softmax' }));
  m.compile({ optimizer: 'adam', loss: 'categorical_crossentropy' });
  return m;
}

test('a byte tensor trains, evaluates and predicts bit for bit as its floats', () => {
  const n = 40,
    rng = new Rng(7);
  const bytes = Uint8Array.from({ length: n * 64 }, () => Math.floor(rng.next() * 256));
  const floats = Float32Array.from(bytes, (b) => b / 255);
  const y = new Float32Array(n * 3);
  for (let i = 0; i < n; i++) y[i * 3 + (i % 3)] = 1;
  const labels = { shape: [n, 3], data: y };
  const a = model(),
    b = model();
  const args = { batchSize: 8, epochs: 2, seed: 1, verbose: 0 as const, validationSplit: 0.25 };
  const ha = a.fit({ shape: [n, 8, 8, 1], data: bytes }, labels, args);
  const hb = b.fit({ shape: [n, 8, 8, 1], data: floats }, labels, args);
  assert.deepEqual(ha, hb);
  assert.deepEqual(a.getWeights(), b.getWeights());
  assert.deepEqual(
    a.evaluate({ shape: [n, 8, 8, 1], data: bytes }, labels, { batchSize: 16 }),
    b.evaluate({ shape: [n, 8, 8, 1], data: floats }, labels, { batchSize: 16 }),
  );
  assert.deepEqual(
    a.predict({ shape: [n, 8, 8, 1], data: bytes }, { batchSize: 7 }).data,
    b.predict({ shape: [n, 8, 8, 1], data: floats }).data,
  );
});

test('bytesToFloat gives b / 255 at every alignment and length', () => {
  const rng = new Rng(11);
  const a = Uint8Array.from({ length: 203 }, () => Math.floor(rng.next() * 256));
  const b = Uint8Array.from({ length: 203 }, () => Math.floor(rng.next() * 256)).subarray(1); // byteOffset 1
  for (const src of [a, b, a.subarray(2), b, a])
    for (let s = 0; s < 6; s++)
      for (const n of [0, 1, 3, 4, 5, 7, 8, 9, 64, src.length - s]) {
        const dst = new Float32Array(n + 3).fill(-1);
        bytesToFloat(src, s, dst, 2, n);
        const want = new Float32Array(n + 3).fill(-1);
        for (let k = 0; k < n; k++) want[2 + k] = src[s + k] / 255;
        assert.deepEqual(dst, want, `offset ${src.byteOffset + s}, length ${n}`);
      }
});

test('gatherBytesToFloat gathers rows as b / 255, in order or by index, aligned or not', () => {
  const rng = new Rng(12);
  const all = Uint8Array.from({ length: 1 + 9 * 12 }, () => Math.floor(rng.next() * 256));
  const order = Int32Array.from([5, 0, 8, 3, 3, 1]);
  for (const [src, rowLen] of [
    [all.subarray(0, 108), 12], // word reads
    [all.subarray(1), 12], // byteOffset 1: byte reads
    [all.subarray(0, 63), 7], // rows of 7 bytes: byte reads
  ] as const)
    for (const rows of [order, null]) {
      const count = 4,
        start = 1;
      const dst = new Float32Array(count * rowLen + 2).fill(-1);
      gatherBytesToFloat(src, rows, start, count, rowLen, dst);
      const want = new Float32Array(count * rowLen + 2).fill(-1);
      for (let i = 0; i < count; i++) {
        const r = rows ? rows[start + i] : start + i;
        for (let k = 0; k < rowLen; k++) want[i * rowLen + k] = src[r * rowLen + k] / 255;
      }
      assert.deepEqual(dst, want, `byteOffset ${src.byteOffset}, rows of ${rowLen}, ${rows ? 'by index' : 'in order'}`);
    }
});
