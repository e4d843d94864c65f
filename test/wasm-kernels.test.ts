// Every WebAssembly kernel against the TS reference: the twin tests the native core also runs
// (test/helpers/kernel-twins.ts). Then what is the wasm core's own: results that
// do not depend on the thread count, gradient checks through a whole model, a few training steps
// against the reference, and the committed wasm/digits.wasm being what wasm/src builds.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { type Kernels } from '../src/kernels/kernels';
import { loadWasm, setWasmThreads, setWasmWinograd, WasmCore, wasmInfo, wasmLoadError, wasmPath, WORKER_SOURCE } from '../src/kernels/wasm';
import { reference as ref } from '../src/kernels/reference';
import { Rng } from '../src/rng';
import { kernelTwinTests, convCases, rand, close } from './helpers/kernel-twins';
import * as fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import { Sequential } from '../src/model/sequential';
import { AveragePooling2D, BatchNormalization, Conv2D, Dense, Dropout, Flatten, MaxPooling2D } from '../src/layers';
import { SGD } from '../src/model/optimizers';
import { lossForward } from '../src/model/losses';
import { PRESETS } from '../src/zoo/presets';
import { centralDiff, sampleIndices, uniformArray } from './helpers/numeric';

const loaded = loadWasm();
const skip = loaded ? false : `wasm core not loaded (${wasmLoadError()})`;
const nat = loaded as Kernels;

// Outside the suite so that a machine without the addon reports one skipped test, not zero tests.
test('wasm core loads as "wasm" and reports its threads', { skip }, () => {
  assert.equal(nat.name, 'wasm');
  const info = wasmInfo();
  assert.ok(info && info.threads >= 1 && info.moduleBytes > 0 && info.memoryBytes > 0, JSON.stringify(info));
});

describe('wasm kernels', { skip }, () => {
  kernelTwinTests(nat, 'wasm');
});

// ---------------------------------------------------------------------------------------------
// What is the wasm core's own.

describe('wasm core: threads, gradients, training, build', { skip }, () => {
  test('the direct kernels stand in for Winograd when it is switched off, and both match the reference', () => {
    const g = convCases[1][1]; // 5x5 same 14x14x32→64: Winograd each way
    const rng = new Rng(21);
    const x = rand(rng, g.n * g.h * g.w * g.c),
      w = rand(rng, g.kh * g.kw * g.c * g.f),
      dy = rand(rng, g.n * g.oh * g.ow * g.f);
    const run = (k: Kernels) => {
      const y = new Float32Array(dy.length),
        dx = new Float32Array(x.length),
        dw = new Float32Array(w.length);
      k.conv2dForward(g, x, w, null, y, false);
      k.conv2dBackwardData(g, dy, w, dx);
      k.conv2dBackwardWeights(g, x, dy, dw, null);
      return [y, dx, dw];
    };
    const want = run(ref);
    const wino = run(nat);
    setWasmWinograd(false);
    let direct: Float32Array[];
    try {
      direct = run(nat);
    } finally {
      setWasmWinograd(true);
    }
    ['forward', 'backward data', 'backward weights'].forEach((what, i) => {
      close(`${what} (Winograd)`, wino[i], want[i]);
      close(`${what} (direct)`, direct[i], want[i]);
      assert.notDeepEqual(direct[i], wino[i], `${what}: the switch changed nothing`);
    });
  });

  test('results are bit-identical with 1 and 2 threads (every output has one summation order)', () => {
    const rng = new Rng(77);
    const run = (): Float32Array[] => {
      const out: Float32Array[] = [];
      for (const g of [convCases[1][1], convCases[4][1], convCases[7][1], convCases[2][1], convCases[0][1]]) {
        const x = rand(new Rng(g.h + g.c), g.n * g.h * g.w * g.c),
          w = rand(new Rng(g.f), g.kh * g.kw * g.c * g.f);
        const dy = rand(new Rng(g.kh + g.f), g.n * g.oh * g.ow * g.f),
          b = rand(new Rng(3), g.f);
        const y = new Float32Array(dy.length),
          dx = new Float32Array(x.length),
          dw = new Float32Array(w.length),
          db = new Float32Array(g.f);
        nat.conv2dForward(g, x, w, b, y, true);
        nat.conv2dBackwardData(g, dy, w, dx);
        nat.conv2dBackwardWeights(g, x, dy, dw, db);
        out.push(y, dx, dw, db);
      }
      const [n, inF, outF] = [64, 576, 64];
      const x = rand(new Rng(1), n * inF),
        w = rand(new Rng(2), inF * outF),
        dy = rand(new Rng(4), n * outF);
      const y = new Float32Array(n * outF),
        dx = new Float32Array(n * inF),
        dw = new Float32Array(inF * outF),
        db = new Float32Array(outF);
      nat.denseForward(n, inF, outF, x, w, null, y, false);
      nat.denseBackwardData(n, inF, outF, dy, w, dx);
      nat.denseBackwardWeights(n, inF, outF, x, dy, dw, db);
      const rows = 64 * 14 * 14,
        c = 32,
        xb = rand(new Rng(5), rows * c, 2, 5),
        dyb = rand(new Rng(6), rows * c);
      const ones = new Float32Array(c).fill(1),
        zeros = new Float32Array(c),
        mm = new Float32Array(c),
        mv = new Float32Array(c).fill(1);
      const yb = new Float32Array(rows * c),
        sm = new Float32Array(c),
        si = new Float32Array(c),
        dxb = new Float32Array(rows * c);
      const dg = new Float32Array(c),
        dbb = new Float32Array(c);
      nat.batchNormForwardTraining(rows, c, xb, ones, zeros, mm, mv, 0.9, 1e-3, yb, sm, si);
      nat.batchNormBackward(rows, c, xb, dyb, ones, sm, si, dxb, dg, dbb);
      out.push(y, dx, dw, db, yb, sm, si, dxb, dg, dbb, mm, mv);
      return out;
    };
    const before = wasmInfo()!.threads;
    try {
      setWasmThreads(1);
      const one = run();
      setWasmThreads(2);
      assert.equal(wasmInfo()!.threads, 2);
      const two = run();
      one.forEach((a, i) => assert.deepEqual(two[i], a, `output ${i}`));
    } finally {
      setWasmThreads(before);
    }
    assert.ok(rng.next() >= 0);
  });

  // Finite differences of the wasm forward against the wasm backward, through a whole model of smooth
  // layers (no kinks to step over): conv tanh (same, stride 2) → BN → average pool → conv sigmoid →
  // dropout → flatten → dense softmax with cross-entropy, gradients from trainOnBatch with SGD(lr = 0).
  test('gradient check: a whole model on the wasm kernels through trainOnBatch', () => {
    const n = 3,
      classes = 5,
      inputShape = [9, 9, 2];
    const model = new Sequential({
      kernels: nat,
      seed: 5,
      layers: [
        new Conv2D({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', activation: 'tanh', inputShape }),
        new BatchNormalization(),
        new AveragePooling2D({ poolSize: 2, padding: 'same' }),
        new Conv2D({ filters: 6, kernelSize: 2, activation: 'sigmoid' }),
        new Dropout({ rate: 0.25 }),
        new Flatten(),
        new Dense({ units: classes, activation: 'softmax' }),
      ],
    });
    model.build();
    model.compile({ optimizer: new SGD({ learningRate: 0 }), loss: 'categorical_crossentropy' });
    const rng = new Rng(9);
    for (const l of model.layers)
      for (const w of l.weights) if (w.name === 'bias' || w.name === 'beta') w.value.set(uniformArray(w.value.length, rng, -0.5, 0.5));
    const x = uniformArray(n * 9 * 9 * 2, rng, -1, 1);
    const t = new Float32Array(n * classes);
    for (let i = 0; i < n; i++) t[i * classes + rng.int(classes)] = 1;
    const all = model.layers.flatMap((l) => l.weights);
    const saved = all.map((w) => w.value.slice());
    const restoreFrozen = () =>
      all.forEach((w, i) => {
        if (!w.grad) w.value.set(saved[i]);
      });
    const objective = (): number => {
      restoreFrozen();
      const h = model.forward(x, n, true, model.context(new Rng(4321)));
      return lossForward(nat, 'categorical_crossentropy', n, classes, h, t, null, false) / n;
    };
    restoreFrozen();
    model.trainOnBatch(x, t, n, model.context(new Rng(4321)));
    let checked = 0;
    for (const l of model.layers) {
      for (const w of l.weights.filter((v) => v.grad)) {
        const g = w.grad!.slice();
        for (const i of sampleIndices(w.value.length, 12, rng)) {
          const num = centralDiff(w.value, i, 1e-2, objective);
          const err =
            Math.abs(g[i] - num) / (2e-2 * Math.max(Math.abs(g[i]), Math.abs(num)) + 2e-4 * Math.max(1e-3, ...Array.from(g, Math.abs)));
          assert.ok(err <= 1, `${l.name}/${w.name}[${i}]: analytic ${g[i]}, numeric ${num}`);
          checked++;
        }
      }
    }
    assert.ok(checked >= 50, `checked ${checked}`);
  });

  // The ReLU/max-pool chain (the fused first layer, a conv into max pooling, dense ReLU) has kinks, so
  // its wasm gradients are compared with the reference core's, which test/gradcheck.test.ts checks.
  test("gradients of a ReLU/max-pool model (fused first layer) match the reference core's", () => {
    const build = (k: Kernels) => {
      const m = new Sequential({
        kernels: k,
        seed: 11,
        layers: [
          new Conv2D({ filters: 8, kernelSize: 3, activation: 'relu', inputShape: [12, 12, 1] }),
          new MaxPooling2D({ poolSize: 2 }),
          new Conv2D({ filters: 16, kernelSize: 3, padding: 'same', activation: 'relu' }),
          new MaxPooling2D({ poolSize: 2 }),
          new Flatten(),
          new Dense({ units: 12, activation: 'relu' }),
          new Dense({ units: 10, activation: 'softmax' }),
        ],
      });
      m.build();
      m.compile({ optimizer: new SGD({ learningRate: 0 }), loss: 'categorical_crossentropy' });
      return m;
    };
    const mr = build(ref),
      mw = build(nat);
    const rng = new Rng(12);
    const n = 4,
      x = rand(rng, n * 144, 0, 1),
      t = new Float32Array(n * 10);
    for (let i = 0; i < n; i++) t[i * 10 + rng.int(10)] = 1;
    const lr = mr.trainOnBatch(x, t, n),
      lw = mw.trainOnBatch(x, t, n);
    assert.ok(Math.abs(lw.loss - lr.loss) <= 1e-5 * Math.abs(lr.loss), `loss ${lw.loss} vs ${lr.loss}`);
    const gr = mr.layers.flatMap((l) => l.weights.filter((w) => w.grad)),
      gw = mw.layers.flatMap((l) => l.weights.filter((w) => w.grad));
    assert.equal(gw.length, 8);
    gw.forEach((w, i) => close(`d${w.name} of layer ${i >> 1}`, w.grad!, gr[i].grad!));
  });

  test('training: 20 RMSprop steps of seed002-cnn on the wasm core track the reference core', () => {
    const preset = PRESETS.find((p) => p.name === 'seed002-cnn')!;
    const rng = new Rng(3);
    const bs = 16,
      x = rand(rng, bs * 784, 0, 1),
      t = new Float32Array(bs * 10);
    for (let i = 0; i < bs; i++) t[i * 10 + rng.int(10)] = 1;
    const losses: number[][] = [];
    const models = [ref, nat].map((k) => {
      const m = preset.build();
      m.kernels = k;
      m.compile({ optimizer: preset.recipe.optimizer, loss: preset.recipe.loss });
      const l: number[] = [];
      for (let s = 0; s < 20; s++) l.push(m.trainOnBatch(x, t, bs).loss / bs);
      losses.push(l);
      return m;
    });
    losses[1].forEach((v, s) =>
      assert.ok(Math.abs(v - losses[0][s]) <= 1e-3 * Math.abs(losses[0][s]) + 1e-5, `step ${s}: wasm ${v}, reference ${losses[0][s]}`),
    );
    assert.ok(losses[1][19] < 0.8 * losses[1][0], `the loss falls: ${losses[1][0]} → ${losses[1][19]}`);
    const wr = models[0].layers.flatMap((l) => l.weights),
      ww = models[1].layers.flatMap((l) => l.weights);
    ww.forEach((w, i) => close(`weights ${w.name} ${i}`, w.value, wr[i].value, 1e-3));
  });

  test('the same module in a Web-Worker-style start: WORKER_SOURCE runs a worker that takes part', () => {
    assert.match(WORKER_SOURCE, /self\.onmessage/);
    const bytes = fs.readFileSync(wasmPath());
    const started: Worker[] = [];
    const core = new WasmCore(new WebAssembly.Module(bytes), bytes.length, {
      threads: 3,
      canBlock: false, // a browser's main thread may not block: it spins
      spawn: (s) => {
        const w = new Worker(WORKER_SOURCE, { eval: true, workerData: s });
        w.unref();
        started.push(w);
      },
    });
    assert.equal(started.length, 2);
    const g = convCases[4][1];
    const x = rand(new Rng(1), g.n * g.h * g.w * g.c),
      w = rand(new Rng(2), g.kh * g.kw * g.c * g.f);
    const yr = new Float32Array(g.n * g.oh * g.ow * g.f),
      yw = new Float32Array(yr.length);
    ref.conv2dForward(g, x, w, null, yr, false);
    for (let i = 0; i < 20; i++) core.kernels.conv2dForward(g, x, w, null, yw, false);
    close('conv on a second core', yw, yr);
    return Promise.all(started.map((s) => s.terminate())).then(() => undefined);
  });

  test('digits --version names the wasm backend under DIGITS_BACKEND=wasm, and the process exits with its workers', () => {
    const bin = path.resolve(__dirname, '../../bin/digits.js');
    const r = spawnSync(process.execPath, [bin, '--version'], {
      encoding: 'utf8',
      env: { ...process.env, DIGITS_BACKEND: 'wasm' },
      timeout: 30_000,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /backend: wasm \(WebAssembly SIMD128, \d+ threads\)/);
    const t = spawnSync(process.execPath, [bin, '--threads', '1', '--version'], {
      encoding: 'utf8',
      env: { ...process.env, DIGITS_BACKEND: 'wasm' },
      timeout: 30_000,
    });
    assert.match(t.stdout, /backend: wasm \(WebAssembly SIMD128, 1 threads\)/);
  });

  test('2x2 max pooling backward: winners outside their window or out of range fall back to the scatter, bit for bit', () => {
    // the 2x2/2 backward gathers each cell's gradient from its own window; a workspace that is not
    // the forward's (a winner in another window, a negative or too large index) must still give the
    // reference's scatter, with and without the ReLU mask
    const g = { n: 3, h: 11, w: 11, c: 8, oh: 5, ow: 5, ph: 2, pw: 2, sh: 2, sw: 2, padTop: 0, padLeft: 0 };
    const rng = new Rng(5);
    const x = rand(rng, g.n * g.h * g.w * g.c),
      out = g.n * g.oh * g.ow * g.c;
    const y = new Float32Array(out),
      ws = new Int32Array(out);
    ref.maxPool2dForward(g, x, y, ws);
    const dy = rand(rng, out);
    const foreign = ws.slice();
    foreign[7] = foreign[100];
    const outOfRange = ws.slice();
    outOfRange[5] = -1;
    outOfRange[9] = x.length + 3;
    for (const [what, w] of [
      ['forward winners', ws],
      ['a winner in another window', foreign],
      ['out-of-range winners', outOfRange],
    ] as const)
      for (const reluOf of [undefined, y]) {
        const want = new Float32Array(x.length),
          got = new Float32Array(x.length).fill(NaN);
        ref.maxPool2dBackward(g, dy, w, want, reluOf);
        nat.maxPool2dBackward(g, dy, w, got, reluOf);
        assert.deepEqual(got, want, `${what}${reluOf ? ', ReLU mask' : ''}`);
      }
  });

  // The .wasm is committed (installing digits needs no compiler); where Debian's clang-16 is present
  // (scripts/setup.sh installs it) it must be exactly what wasm/src builds.
  const clang = spawnSync('clang-16', ['--version']).status === 0 ? false : 'clang-16 not installed (apt install clang-16 lld-16)';
  test('wasm/digits.wasm is what wasm/src builds', { skip: clang }, () => {
    const r = spawnSync(process.execPath, [path.resolve(__dirname, '../../wasm/build.js'), '--check'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr + r.stdout);
  });
});
