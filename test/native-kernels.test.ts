// Every native kernel against the TS reference (the twin tests, test/helpers/kernel-twins.ts), then what
// is the native core's own: bf16 precision and its thread count.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type ConvGeom, type Kernels } from '../src/kernels/kernels';
import { loadNative, nativeInfo, nativeLoadError, setPrecision, setThreads } from '../src/kernels/native';
import { reference as ref } from '../src/kernels/reference';
import { Rng } from '../src/rng';
import { kernelTwinTests, convCases, rand, close } from './helpers/kernel-twins';

const loaded = loadNative();
const skip = loaded ? false : `native addon not loaded (${nativeLoadError()}); run \`node scripts/build-native.js\``;
const nat = loaded as Kernels;

// Outside the suite so that a machine without the addon reports one skipped test, not zero tests.
test('native addon loads as "native" and reports its runtime', { skip }, () => {
  assert.equal(nat.name, 'native');
  const info = nativeInfo();
  assert.ok(info && info.threads >= 1 && /^\d+\.\d+/.test(info.onednn) && info.isa.length > 0, JSON.stringify(info));
});

describe('native kernels', { skip }, () => {
  kernelTwinTests(nat, 'native');

  // bf16 keeps 8 significant bits: each product is off by up to ~2^-8 relative, and sums of
  // random-sign terms stay within about 1% of the largest output.
  const BF16_TOL = 2e-2;
  const bf16 = nativeInfo()?.bf16 ? false : 'this CPU has no native bf16';
  test('bf16 precision: conv and dense within the bf16 bound, fp32 restored exactly', { skip: bf16 }, () => {
    const rng = new Rng(21);
    const cases = [convCases[1][1], convCases[4][1], convCases[6][1], convCases[7][1], convCases[0][1]];
    const runConv = (k: Kernels, g: ConvGeom, x: Float32Array, w: Float32Array, b: Float32Array, dy: Float32Array) => {
      const y = new Float32Array(dy.length),
        dx = new Float32Array(x.length),
        dw = new Float32Array(w.length),
        db = new Float32Array(g.f);
      k.conv2dForward(g, x, w, b, y, true);
      k.conv2dBackwardData(g, dy, w, dx);
      k.conv2dBackwardWeights(g, x, dy, dw, db);
      return { y, dx, dw, db };
    };
    try {
      for (const g of cases) {
        const x = rand(rng, g.n * g.h * g.w * g.c),
          w = rand(rng, g.kh * g.kw * g.c * g.f),
          b = rand(rng, g.f);
        const dy = rand(rng, g.n * g.oh * g.ow * g.f);
        const r = runConv(ref, g, x, w, b, dy);
        setPrecision('bf16');
        const n = runConv(nat, g, x, w, b, dy);
        setPrecision('fp32');
        for (const key of ['y', 'dx', 'dw', 'db'] as const) close(`conv ${g.h}x${g.w}x${g.c}→${g.f} ${key}`, n[key], r[key], BF16_TOL);
        const f = runConv(nat, g, x, w, b, dy);
        for (const key of ['y', 'dx', 'dw', 'db'] as const) close(`fp32 again ${key}`, f[key], r[key]);
      }
      for (const [n, inF, outF] of [
        [64, 576, 64],
        [3, 3136, 120],
        [5, 7, 3],
      ]) {
        const x = rand(rng, n * inF),
          w = rand(rng, inF * outF),
          b = rand(rng, outF),
          dy = rand(rng, n * outF);
        const run = (k: Kernels) => {
          const y = new Float32Array(n * outF),
            dx = new Float32Array(n * inF),
            dw = new Float32Array(inF * outF),
            db = new Float32Array(outF);
          k.denseForward(n, inF, outF, x, w, b, y, true);
          k.denseBackwardData(n, inF, outF, dy, w, dx);
          k.denseBackwardWeights(n, inF, outF, x, dy, dw, db);
          return { y, dx, dw, db };
        };
        const r = run(ref);
        setPrecision('bf16');
        const m = run(nat);
        setPrecision('fp32');
        for (const key of ['y', 'dx', 'dw', 'db'] as const) close(`dense ${n}x${inF}→${outF} ${key}`, m[key], r[key], BF16_TOL);
      }
    } finally {
      setPrecision('fp32');
    }
  });

  test('setThreads(1) gives the same results, then restores', () => {
    const before = nativeInfo()!.threads;
    const g = convCases[4][1];
    const rng = new Rng(99);
    const x = rand(rng, g.n * g.h * g.w * g.c),
      w = rand(rng, g.kh * g.kw * g.c * g.f);
    const y1 = new Float32Array(g.n * g.oh * g.ow * g.f),
      y2 = new Float32Array(y1.length);
    nat.conv2dForward(g, x, w, null, y1, false);
    setThreads(1);
    try {
      assert.equal(nativeInfo()!.threads, 1);
      nat.conv2dForward(g, x, w, null, y2, false);
    } finally {
      setThreads(before);
    }
    close('single-threaded', y2, y1);
    assert.equal(nativeInfo()!.threads, before);
  });
});

describe('native core in worker threads (digits serve runs one per core)', { skip }, () => {
  // each thread keeps its own primitive caches and stream: shared ones were a data race (two workers
  // rebinding one cached primitive's buffers) and crashed the process when a worker that had used them exited
  test('workers running kernels at once compute what each computes alone, and exit cleanly', async () => {
    const { Worker } = await import('node:worker_threads');
    const path = await import('node:path');
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      const { getPreset } = require(workerData.presets);
      const { Rng } = require(workerData.rng);
      const m = getPreset(workerData.preset).build(undefined, undefined, 1); m.build();
      const r = new Rng(workerData.seed); const x = Float32Array.from({ length: 32 * 784 }, () => r.next());
      let out;
      for (let i = 0; i < 40; i++) out = m.predict({ shape: [32, 28, 28, 1], data: x }).data;
      parentPort.postMessage(Array.from(out));`;
    const src = path.resolve(__dirname, '../src');
    const run = (preset: string, seed: number) =>
      new Promise<number[]>((resolve, reject) => {
        const w = new Worker(code, {
          eval: true,
          workerData: { preset, seed, presets: path.join(src, 'zoo/presets.js'), rng: path.join(src, 'rng.js') },
        });
        w.once('message', (m: number[]) => {
          void w.terminate().then(() => resolve(m));
        });
        w.once('error', reject);
      });
    const jobs: [string, number][] = [
      ['seed002-cnn', 1],
      ['seed002-cnn', 2],
      ['seed003-bn', 3],
      ['seed003-bn', 4],
    ];
    const together = await Promise.all(jobs.map(([p, s]) => run(p, s)));
    for (const [i, [p, s]] of jobs.entries()) assert.deepEqual(together[i], await run(p, s), `${p} seed ${s}`);
  });
});
