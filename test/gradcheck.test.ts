// Finite-difference gradient checks for every layer and loss of the reference core, and for a whole
// small model through Sequential.trainOnBatch.
//
// Method. For a layer we take the scalar objective L = Σ forward(x)·R for a fixed random R, so
// backward(R) must return dL/dx and fill every trainable weight's grad with dL/dW. Each analytic
// entry (a sample of up to 30 indices per array) is compared with a central difference
// (L(v+h) − L(v−h)) / Δ, where Δ is the step actually taken after float32 rounding of v ± h.
//
// Tolerances. The kernels compute in float32, so L carries round-off of roughly
// √(#outputs)·6e-8·|terms| ≈ 1e-6 for these tiny shapes; divided by Δ = 2h = 2e-2 that is ~5e-5 of
// noise in a numeric derivative whose entries are O(0.1–10). Curvature (sigmoid, tanh, softmax, BN)
// adds a truncation error ≈ h²·|f'''|/6, a few 1e-5 relative at h = 1e-2. So layers use
// |analytic − numeric| ≤ 2e-3·max(|a|, |n|) + 2e-4: measured errors stay below ~1/8 of that, and a
// 1% mistake in a gradient (let alone a wrong padding side, index or factor of n) fails. Losses
// (values O(1), gradients of the batch *mean*, O(1e-2)) scale the absolute floor to the array:
// 2e-3 relative + 2e-4·max|grad|. The whole-model check is looser, see modelTol.
//
// Kinks. ReLU and max-pooling are only piecewise smooth. Inputs of pooling cases are pairwise
// distinct with spacing 0.05 > 2h, so no winner can change (asserted: zero skips). For ReLU we
// record the on/off pattern (and pooling winners, in the whole-model check) at v−h, v and v+h and
// skip an index only when the pattern changes; we then require that at least 2/3 of the sampled
// indices were actually checked, so the guard cannot quietly hide a broken gradient.
process.env.DIGITS_BACKEND = 'reference';

import { describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { reference } from '../src/kernels/reference';
import { ELTWISE_KINDS, eltwiseAlpha, type Eltwise, type PoolGeom } from '../src/kernels/kernels';
import { padGeometry } from '../src/layers/layer';
import { Rng } from '../src/rng';
import { sizeOf } from '../src/tensor';
import { Activated } from '../src/layers/activation';
import { Activation, BatchNormalization, Conv2D, Dense, Dropout, Flatten, MaxPooling2D, type Layer, type RunContext } from '../src/layers';
import { Sequential } from '../src/model/sequential';
import { lossForward, type LossName } from '../src/model/losses';
import { SGD } from '../src/model/optimizers';
import {
  awayFromZero,
  centralDiff,
  close,
  copy,
  distinctArray,
  dot,
  maxAbs,
  sampleIndices,
  uniformArray,
  type Tolerance,
} from './helpers/numeric';

const H = 1e-2;
const LAYER_TOL: Tolerance = { rtol: 2e-3, atol: 2e-4 };
const SAMPLES = 30;
/** Fixed seed for training-time randomness: every evaluation re-creates the context with it, so a
 * Dropout layer draws the same mask in the analytic pass and in every perturbed forward. */
const CTX_SEED = 4321;
const ctx = (): RunContext => ({ k: reference, rng: new Rng(CTX_SEED) });

type InputKind = 'uniform' | 'awayFromZero' | 'distinct';

function makeInput(kind: InputKind, size: number, rng: Rng): Float32Array {
  if (kind === 'awayFromZero') return awayFromZero(size, rng, 0.1, 1.5);
  if (kind === 'distinct') return distinctArray(size, rng, 0.05);
  return uniformArray(size, rng, -1.5, 1.5);
}

/** Glorot kernels are fine as built; zero biases / unit gammas would hide bugs, so randomise them. */
function randomizeWeights(layer: Layer, rng: Rng): void {
  for (const w of layer.weights) {
    if (w.name === 'bias' || w.name === 'beta' || w.name === 'moving_mean') w.value.set(uniformArray(w.value.length, rng, -0.5, 0.5));
    else if (w.name === 'gamma' || w.name === 'moving_variance') w.value.set(uniformArray(w.value.length, rng, 0.5, 1.5));
  }
}

/** Flat input index of each max-pooling window's winner, computed from the layer's input. */
function poolWinners(layer: MaxPooling2D, x: Float32Array, n: number): Int32Array {
  const g = layer.geometry(n);
  const out = new Int32Array(n * g.oh * g.ow * g.c);
  let o = 0;
  for (let b = 0; b < n; b++)
    for (let oy = 0; oy < g.oh; oy++)
      for (let ox = 0; ox < g.ow; ox++)
        for (let c = 0; c < g.c; c++) {
          let best = -Infinity,
            arg = -1;
          for (let py = 0; py < g.ph; py++)
            for (let px = 0; px < g.pw; px++) {
              const iy = oy * g.sh + py - g.padTop,
                ix = ox * g.sw + px - g.padLeft;
              if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
              const i = ((b * g.h + iy) * g.w + ix) * g.c + c;
              if (x[i] > best) {
                best = x[i];
                arg = i;
              }
            }
          out[o++] = arg;
        }
  return out;
}

/** Which piece of a kinked activation an output lies on, read from y alone (α > 0 keeps y > 0 ⇔ z > 0). */
const PIECE: Partial<Record<string, (y: number) => number>> = {
  relu: (y) => (y > 0 ? 1 : 0),
  leaky_relu: (y) => (y > 0 ? 1 : 0),
  elu: (y) => (y > 0 ? 1 : 0),
  relu6: (y) => (y <= 0 ? 0 : y < 6 ? 1 : 2),
  hard_sigmoid: (y) => (y <= 0 ? 0 : y < 1 ? 1 : 2),
};

/** The piecewise "pattern" of one layer's last forward: activation pieces (ReLU on/off bits), pooling winners. */
function pattern(layer: Layer, x: Float32Array, y: Float32Array, n: number): string {
  if (layer instanceof MaxPooling2D) return poolWinners(layer, x, n).join(',');
  const piece = layer instanceof Activated ? PIECE[layer.activation] : undefined;
  if (piece) {
    let s = '';
    for (let i = 0; i < y.length; i++) s += piece(y[i]);
    return s;
  }
  return '';
}

interface Stats {
  checked: number;
  skipped: number;
  worst: number;
}

/**
 * Compare analytic and numeric derivatives of `objective` w.r.t. sampled entries of `arr`.
 * `objective` returns the value and a kink pattern; indices whose pattern changes are skipped.
 */
function compareArray(
  what: string,
  arr: Float32Array,
  analytic: Float32Array,
  objective: () => { value: number; pattern: string },
  basePattern: string,
  tol: Tolerance,
  rng: Rng,
  stats: Stats,
  h = H,
): void {
  assert.equal(analytic.length, arr.length, `${what}: gradient has ${analytic.length} entries, the array ${arr.length}`);
  for (const i of sampleIndices(arr.length, SAMPLES, rng)) {
    const seen: string[] = [];
    const num = centralDiff(arr, i, h, () => {
      const r = objective();
      seen.push(r.pattern);
      return r.value;
    });
    if (seen.some((p) => p !== basePattern)) {
      stats.skipped++;
      continue;
    }
    stats.checked++;
    const a = analytic[i];
    const err = Math.abs(a - num) / (tol.rtol * Math.max(Math.abs(a), Math.abs(num)) + tol.atol);
    stats.worst = Math.max(stats.worst, err);
    if (!close(a, num, tol)) {
      assert.fail(`${what}[${i}]: analytic ${a}, numeric ${num} (|diff| ${Math.abs(a - num).toExponential(3)})`);
    }
  }
}

interface LayerCase {
  title: string;
  make: () => Layer;
  inputShape: number[];
  n: number;
  input?: InputKind;
  /** Default true: BN and Dropout behave differently in training. */
  training?: boolean;
  /** Pooling cases must never skip (distinct inputs make the max smooth everywhere we step). */
  noSkips?: boolean;
}

/** Gradient check of one layer; returns the stats so callers can add layer-specific assertions. */
function checkLayer(c: LayerCase, seed: number): { stats: Stats; layer: Layer; x: Float32Array; dx: Float32Array; R: Float32Array } {
  const rng = new Rng(seed);
  const layer = c.make();
  layer.build(c.inputShape, rng);
  randomizeWeights(layer, rng);
  const training = c.training ?? true;
  const x = makeInput(c.input ?? 'uniform', c.n * sizeOf(c.inputShape), rng);
  const outSize = c.n * sizeOf(layer.outputShape);
  const R = uniformArray(outSize, rng);

  // batchNormForwardTraining updates the moving statistics on every forward: snapshot all
  // non-trainable variables and restore them before each evaluation so every L(·) sees the same state.
  const frozen = layer.weights.filter((w) => !w.grad).map((w) => ({ value: w.value, saved: copy(w.value) }));
  const restore = (): void => {
    for (const f of frozen) f.value.set(f.saved);
  };

  restore();
  const c0 = ctx();
  const y0 = layer.forward(x, c.n, training, c0);
  assert.equal(y0.length, outSize, `${c.title}: forward returned ${y0.length} values, expected ${outSize}`);
  const basePattern = pattern(layer, x, y0, c.n);
  // backward may hand back dy itself (Flatten, inactive Dropout): give it a copy of R, copy its result
  const dx = copy(layer.backward(copy(R), c.n, c0));
  const grads = layer.weights.filter((w) => w.grad).map((w) => ({ w, g: copy(w.grad!) }));

  const objective = (): { value: number; pattern: string } => {
    restore();
    const y = layer.forward(x, c.n, training, ctx());
    return { value: dot(y, R), pattern: pattern(layer, x, y, c.n) };
  };
  const stats: Stats = { checked: 0, skipped: 0, worst: 0 };
  compareArray(`${c.title} dx`, x, dx, objective, basePattern, LAYER_TOL, rng, stats);
  for (const { w, g } of grads) compareArray(`${c.title} d${w.name}`, w.value, g, objective, basePattern, LAYER_TOL, rng, stats);
  restore();

  if (c.noSkips) assert.equal(stats.skipped, 0, `${c.title}: a pooling winner changed under perturbation (inputs not distinct enough)`);
  assert.ok(
    stats.checked >= (2 * (stats.checked + stats.skipped)) / 3,
    `${c.title}: only ${stats.checked} of ${stats.checked + stats.skipped} sampled derivatives were away from a kink`,
  );
  return { stats, layer, x, dx, R };
}

function layerTests(cases: LayerCase[], seedBase: number): void {
  cases.forEach((c, i) => {
    test(c.title, (t) => {
      const { stats } = checkLayer(c, seedBase + i);
      t.diagnostic(`checked ${stats.checked}, skipped ${stats.skipped} (kinks), worst err/tol ${stats.worst.toFixed(3)}`);
    });
  });
}

describe('gradcheck: Conv2D', () => {
  layerTests(
    [
      {
        title: 'valid, stride 1, k3, 7x7x2 → 3 filters, bias, linear, n=1',
        make: () => new Conv2D({ filters: 3, kernelSize: 3, activation: 'linear' }),
        inputShape: [7, 7, 2],
        n: 1,
      },
      {
        title: 'same, stride 1, k4 (asymmetric pad), 5x6x2 → 2, bias, tanh, n=3',
        make: () => new Conv2D({ filters: 2, kernelSize: 4, padding: 'same', activation: 'tanh' }),
        inputShape: [5, 6, 2],
        n: 3,
      },
      {
        title: 'same, stride 2, k5, 7x7x2 → 3, no bias, sigmoid, n=1',
        make: () => new Conv2D({ filters: 3, kernelSize: 5, strides: 2, padding: 'same', useBias: false, activation: 'sigmoid' }),
        inputShape: [7, 7, 2],
        n: 1,
      },
      {
        title: 'valid, stride 2, k3, 7x7x1 → 4, bias, relu, n=3',
        make: () => new Conv2D({ filters: 4, kernelSize: 3, strides: 2, activation: 'relu' }),
        inputShape: [7, 7, 1],
        n: 3,
        input: 'awayFromZero',
      },
      {
        title: 'same, stride 2, k3, 5x6x3 → 2, bias, relu, n=3',
        make: () => new Conv2D({ filters: 2, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' }),
        inputShape: [5, 6, 3],
        n: 3,
        input: 'awayFromZero',
      },
      {
        title: 'same, stride 2, k4 (pad 1 before, 2 after), 7x7x2 → 2, no bias, linear, n=3',
        make: () => new Conv2D({ filters: 2, kernelSize: 4, strides: 2, padding: 'same', useBias: false }),
        inputShape: [7, 7, 2],
        n: 3,
      },
      {
        title: 'valid, stride 1, k5, 5x6x1 → 3, bias, tanh, n=1',
        make: () => new Conv2D({ filters: 3, kernelSize: 5, activation: 'tanh' }),
        inputShape: [5, 6, 1],
        n: 1,
      },
      {
        title: 'valid, non-square kernel 3x2 and strides 1x2, 6x5x2 → 2, bias, sigmoid, n=3',
        make: () => new Conv2D({ filters: 2, kernelSize: [3, 2], strides: [1, 2], activation: 'sigmoid' }),
        inputShape: [6, 5, 2],
        n: 3,
      },
      {
        title: 'same, stride 1, k3, 4x5x2 → 4, bias, softmax over channels, n=3',
        make: () => new Conv2D({ filters: 4, kernelSize: 3, padding: 'same', activation: 'softmax' }),
        inputShape: [4, 5, 2],
        n: 3,
      },
    ],
    100,
  );
});

describe('gradcheck: MaxPooling2D (distinct inputs, no ties)', () => {
  layerTests(
    [
      {
        title: 'valid 2x2/2 on odd 5x6x2 (last row dropped), n=3',
        make: () => new MaxPooling2D({ poolSize: 2 }),
        inputShape: [5, 6, 2],
        n: 3,
        input: 'distinct',
        noSkips: true,
      },
      {
        title: 'same 2x2/2 on 5x5x2 (padded cells never win), n=1',
        make: () => new MaxPooling2D({ poolSize: 2, padding: 'same' }),
        inputShape: [5, 5, 2],
        n: 1,
        input: 'distinct',
        noSkips: true,
      },
      {
        title: 'valid 3x3/1 overlapping windows on 5x6x2, n=3',
        make: () => new MaxPooling2D({ poolSize: 3, strides: 1 }),
        inputShape: [5, 6, 2],
        n: 3,
        input: 'distinct',
        noSkips: true,
      },
      {
        title: 'same 3x3/2 on 7x7x1, n=1',
        make: () => new MaxPooling2D({ poolSize: 3, strides: 2, padding: 'same' }),
        inputShape: [7, 7, 1],
        n: 1,
        input: 'distinct',
        noSkips: true,
      },
      {
        title: 'same 2x2/1 on 5x6x3 (pad only at bottom/right), n=3',
        make: () => new MaxPooling2D({ poolSize: 2, strides: 1, padding: 'same' }),
        inputShape: [5, 6, 3],
        n: 3,
        input: 'distinct',
        noSkips: true,
      },
    ],
    200,
  );

  test('overlapping windows accumulate into a shared winner', () => {
    // one 3x3 input whose global max sits in the centre: all four 2x2/1 windows pick it
    const layer = new MaxPooling2D({ poolSize: 2, strides: 1 });
    layer.build([3, 3, 1], new Rng(0));
    const x = Float32Array.from([1, 2, 3, 4, 9, 5, 6, 7, 8]);
    layer.forward(x, 1, true, ctx());
    const dx = layer.backward(Float32Array.from([1, 10, 100, 1000]), 1, ctx());
    assert.deepEqual(Array.from(dx), [0, 0, 0, 0, 1111, 0, 0, 0, 0]);
  });
});

describe('gradcheck: Dense', () => {
  const acts = ['linear', 'relu', 'sigmoid', 'tanh', 'softmax'] as const;
  const cases: LayerCase[] = [];
  for (const a of acts) {
    for (const [n, useBias] of [
      [1, true],
      [3, false],
      [3, true],
    ] as const) {
      cases.push({
        title: `${a}, 7 → 5, ${useBias ? 'bias' : 'no bias'}, n=${n}`,
        make: () => new Dense({ units: 5, activation: a, useBias }),
        inputShape: [7],
        n,
        input: a === 'relu' ? 'awayFromZero' : 'uniform',
      });
    }
  }
  layerTests(cases, 300);
});

describe('gradcheck: BatchNormalization (training mode)', () => {
  layerTests(
    [
      { title: 'conv-shaped 3x4x5, n=1 (rows = h·w)', make: () => new BatchNormalization(), inputShape: [3, 4, 5], n: 1 },
      { title: 'conv-shaped 2x3x4, n=3', make: () => new BatchNormalization(), inputShape: [2, 3, 4], n: 3 },
      { title: 'dense-shaped [6], n=3 (rows = batch)', make: () => new BatchNormalization(), inputShape: [6], n: 3 },
      {
        title: 'dense-shaped [4], n=5, epsilon 0.01, momentum 0.9',
        make: () => new BatchNormalization({ epsilon: 0.01, momentum: 0.9 }),
        inputShape: [4],
        n: 5,
      },
    ],
    400,
  );

  test('moving statistics: one training forward applies moving·m + batch·(1−m), unbiased variance', () => {
    const layer = new BatchNormalization({ momentum: 0.9 });
    layer.build([2], new Rng(0));
    const [, , mean, variance] = layer.weights;
    mean.value.set([0.5, -1]);
    variance.value.set([2, 0.25]);
    // column 0: 1, 2, 6 (mean 3, unbiased var 7); column 1: 0, 0, 3 (mean 1, unbiased var 3)
    layer.forward(Float32Array.from([1, 0, 2, 0, 6, 3]), 3, true, ctx());
    const want = [
      [0.5 * 0.9 + 3 * 0.1, -1 * 0.9 + 1 * 0.1],
      [2 * 0.9 + 7 * 0.1, 0.25 * 0.9 + 3 * 0.1],
    ];
    assert.ok(
      close(mean.value[0], want[0][0], { rtol: 1e-6, atol: 0 }) && close(mean.value[1], want[0][1], { rtol: 1e-6, atol: 0 }),
      `moving_mean ${Array.from(mean.value)} vs ${want[0]}`,
    );
    assert.ok(
      close(variance.value[0], want[1][0], { rtol: 1e-6, atol: 0 }) && close(variance.value[1], want[1][1], { rtol: 1e-6, atol: 0 }),
      `moving_variance ${Array.from(variance.value)} vs ${want[1]}`,
    );
    // inference uses them and does not change them
    const before = copy(mean.value);
    layer.forward(Float32Array.from([1, 0, 2, 0, 6, 3]), 3, false, ctx());
    assert.deepEqual(Array.from(mean.value), Array.from(before));
  });
});

describe('gradcheck: Dropout, Flatten, Activation', () => {
  test('Dropout (training, rate 0.5, n=3): gradient is the mask, and matches finite differences', (t) => {
    const { stats, layer, x, dx, R } = checkLayer(
      { title: 'dropout 0.5', make: () => new Dropout({ rate: 0.5 }), inputShape: [4, 5], n: 3 },
      500,
    );
    // the mask is {0, 1/(1−rate)} per element: recover it from the forward and compare dx = R·mask exactly
    const y = layer.forward(x, 3, true, ctx());
    let dropped = 0;
    for (let i = 0; i < x.length; i++) {
      const m = y[i] / x[i];
      assert.ok(Math.abs(m) < 1e-6 || Math.abs(m - 2) < 1e-5, `mask[${i}] = ${m}, expected 0 or 2`);
      assert.equal(dx[i], Math.fround(R[i] * (Math.abs(m) < 1e-6 ? 0 : 2)), `dx[${i}]`);
      if (Math.abs(m) < 1e-6) dropped++;
    }
    assert.ok(dropped > 0 && dropped < x.length, `a rate-0.5 mask over ${x.length} values dropped ${dropped}`);
    t.diagnostic(`checked ${stats.checked}, worst err/tol ${stats.worst.toFixed(3)}`);
  });

  test('Dropout at inference (and at rate 0 in training) is the identity, forward and backward', () => {
    for (const [rate, training] of [
      [0.5, false],
      [0, true],
    ] as const) {
      const { x, dx, R, layer } = checkLayer(
        { title: `dropout ${rate} training=${training}`, make: () => new Dropout({ rate }), inputShape: [6], n: 3, training },
        510,
      );
      assert.deepEqual(Array.from(layer.forward(x, 3, training, ctx())), Array.from(x));
      assert.deepEqual(Array.from(dx), Array.from(R));
    }
  });

  layerTests(
    [
      { title: 'Flatten 3x4x2, n=3', make: () => new Flatten(), inputShape: [3, 4, 2], n: 3 },
      {
        title: 'Activation relu on 2x3x4, n=3',
        make: () => new Activation({ activation: 'relu' }),
        inputShape: [2, 3, 4],
        n: 3,
        input: 'awayFromZero',
      },
      { title: 'Activation sigmoid on 2x3x4, n=1', make: () => new Activation({ activation: 'sigmoid' }), inputShape: [2, 3, 4], n: 1 },
      { title: 'Activation tanh on [6], n=3', make: () => new Activation({ activation: 'tanh' }), inputShape: [6], n: 3 },
      {
        title: 'Activation softmax over channels of 2x3x4, n=3',
        make: () => new Activation({ activation: 'softmax' }),
        inputShape: [2, 3, 4],
        n: 3,
      },
      { title: 'Activation softmax on [5], n=1', make: () => new Activation({ activation: 'softmax' }), inputShape: [5], n: 1 },
      { title: 'Activation linear on [6], n=3', make: () => new Activation({ activation: 'linear' }), inputShape: [6], n: 3 },
    ],
    600,
  );
});

describe('gradcheck: the other activations, as layers (z kept for backward, alpha passed through)', () => {
  const kinked = new Set(['leaky_relu', 'elu', 'relu6', 'hard_sigmoid']);
  layerTests(
    ELTWISE_KINDS.filter((k) => k !== 'relu' && k !== 'linear').map((a, i): LayerCase => ({
      title: `Activation ${a} on ${i % 2 ? '2x3x4, n=2' : '[7], n=3'}`,
      make: () => new Activation({ activation: a }),
      inputShape: i % 2 ? [2, 3, 4] : [7],
      n: i % 2 ? 2 : 3,
      input: kinked.has(a) ? 'awayFromZero' : 'uniform',
    })),
    650,
  );
  const withAlpha = (layer: Dense | Conv2D, alpha: number) => {
    layer.alpha = alpha;
    return layer;
  };
  layerTests(
    [
      {
        title: 'Dense 7 → 5 elu alpha 0.5, n=3',
        make: () => withAlpha(new Dense({ units: 5, activation: 'elu' }), 0.5),
        inputShape: [7],
        n: 3,
      },
      {
        title: 'Dense 7 → 5 leaky_relu alpha 0.1, n=3',
        make: () => withAlpha(new Dense({ units: 5, activation: 'leaky_relu' }), 0.1),
        inputShape: [7],
        n: 3,
      },
      {
        title: 'Dense 7 → 5 hard_sigmoid alpha 1/6 (Keras 3), n=3',
        make: () => withAlpha(new Dense({ units: 5, activation: 'hard_sigmoid' }), 1 / 6),
        inputShape: [7],
        n: 3,
      },
      {
        title: 'Conv2D same k3 5x5x2 → 3 gelu, n=2',
        make: () => new Conv2D({ filters: 3, kernelSize: 3, padding: 'same', activation: 'gelu' }),
        inputShape: [5, 5, 2],
        n: 2,
      },
      {
        title: 'Conv2D valid k3 5x6x2 → 2 silu (= swish), n=2',
        make: () => new Conv2D({ filters: 2, kernelSize: 3, activation: 'silu' }),
        inputShape: [5, 6, 2],
        n: 2,
      },
    ],
    680,
  );

  test("'silu' is swish; an unknown name lists the accepted ones", () => {
    assert.equal(new Activation({ activation: 'silu' }).activation, 'swish');
    assert.throws(
      () => new Activation({ activation: 'swishy' }),
      /unknown activation 'swishy' \(expected one of relu, softmax, sigmoid, .*mish, or silu\)/,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Kernels without a layer of ours yet: L = Σ f(x)·R straight through the reference kernel pair.

function checkKernel(
  what: string,
  x: Float32Array,
  outSize: number,
  fwd: (x: Float32Array, y: Float32Array) => void,
  bwd: (y: Float32Array, R: Float32Array) => Float32Array,
  rng: Rng,
): Stats {
  const R = uniformArray(outSize, rng);
  const y = new Float32Array(outSize);
  fwd(x, y);
  const dx = copy(bwd(y, R));
  const objective = () => {
    const out = new Float32Array(outSize);
    fwd(x, out);
    return { value: dot(out, R), pattern: '' };
  };
  const stats: Stats = { checked: 0, skipped: 0, worst: 0 };
  compareArray(`${what} dx`, x, dx, objective, '', LAYER_TOL, rng, stats);
  return stats;
}

describe('gradcheck: eltwise kernels, every kind (reference)', () => {
  // inputs kept 0.05 (> h) away from every kink, so no difference straddles one
  const kinks = (kind: Eltwise, a: number): number[] =>
    kind === 'relu' || kind === 'leaky_relu' || kind === 'elu'
      ? [0]
      : kind === 'relu6'
        ? [0, 6]
        : kind === 'hard_sigmoid'
          ? [-0.5 / a, 0.5 / a]
          : [];
  const cases: Array<[Eltwise, number | undefined]> = [
    ...ELTWISE_KINDS.map((k): [Eltwise, undefined] => [k, undefined]),
    ['elu', 0.5],
    ['leaky_relu', -0.3],
    ['hard_sigmoid', 1 / 6],
  ];
  cases.forEach(([kind, alpha], i) => {
    test(`${kind}${alpha === undefined ? '' : ` alpha ${alpha.toPrecision(3)}`} on [-4, 7]`, (t) => {
      const rng = new Rng(900 + i);
      const ks = kinks(kind, eltwiseAlpha(kind, alpha));
      const x = uniformArray(60, rng, -4, 7).map((v) => (ks.some((k) => Math.abs(v - k) < 0.05) ? v + 0.1 : v));
      const stats = checkKernel(
        kind,
        x,
        x.length,
        (u, y) => reference.eltwiseForward(kind, u, y, alpha),
        (y, R) => {
          const dx = new Float32Array(x.length);
          reference.eltwiseBackward(kind, x, y, R, dx, alpha);
          return dx;
        },
        rng,
      );
      t.diagnostic(`checked ${stats.checked}, worst err/tol ${stats.worst.toFixed(3)}`);
    });
  });
});

describe('gradcheck: average pooling kernels (reference)', () => {
  const geom = (n: number, h: number, w: number, c: number, p: [number, number], s: [number, number], same: boolean): PoolGeom => {
    const [oy, ox] = [padGeometry(h, p[0], s[0], same ? 'same' : 'valid'), padGeometry(w, p[1], s[1], same ? 'same' : 'valid')];
    return { n, h, w, c, oh: oy.out, ow: ox.out, ph: p[0], pw: p[1], sh: s[0], sw: s[1], padTop: oy.before, padLeft: ox.before };
  };
  const cases: Array<[string, PoolGeom]> = [
    ['valid 2x2/2 on odd 5x6x2 (last row dropped), n=3', geom(3, 5, 6, 2, [2, 2], [2, 2], false)],
    ['same 2x2/2 on 5x5x2 (bottom/right windows average fewer cells), n=1', geom(1, 5, 5, 2, [2, 2], [2, 2], true)],
    ['same 3x3/2 on 7x7x1 (pads 1/1), n=2', geom(2, 7, 7, 1, [3, 3], [2, 2], true)],
    ['same 4x4/2 on 7x7x2 (pads 1/2), n=1', geom(1, 7, 7, 2, [4, 4], [2, 2], true)],
    ['valid 3x3/1 overlapping windows on 5x6x2, n=2', geom(2, 5, 6, 2, [3, 3], [1, 1], false)],
    ['same 2x3 window, strides 1x2 on 5x6x3, n=2', geom(2, 5, 6, 3, [2, 3], [1, 2], true)],
    ['global 4x5x3 (window = h x w), n=3', geom(3, 4, 5, 3, [4, 5], [1, 1], false)],
  ];
  cases.forEach(([name, g], i) => {
    test(name, (t) => {
      const rng = new Rng(950 + i);
      const x = uniformArray(g.n * g.h * g.w * g.c, rng, -1.5, 1.5);
      const stats = checkKernel(
        name,
        x,
        g.n * g.oh * g.ow * g.c,
        (u, y) => reference.avgPool2dForward(g, u, y),
        (_y, R) => {
          const dx = new Float32Array(x.length).fill(NaN);
          reference.avgPool2dBackward(g, R, dx);
          return dx;
        },
        rng,
      );
      t.diagnostic(`checked ${stats.checked}, worst err/tol ${stats.worst.toFixed(3)}`);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Losses. lossForward returns the loss *summed* over rows and writes the gradient of the batch
// *mean*, so the objective here is lossForward(...)/rows.

/** Deterministic targets: one-hot rows, or soft rows (positive, summing to 1). */
function targets(rows: number, cols: number, soft: boolean, rng: Rng): Float32Array {
  const t = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    if (!soft) {
      t[r * cols + ((3 * r + 1) % cols)] = 1;
      continue;
    }
    const v = uniformArray(cols, rng, 0.1, 1);
    const s = v.reduce((a, b) => a + b, 0);
    for (let j = 0; j < cols; j++) t[r * cols + j] = v[j] / s;
  }
  return t;
}

function lossTol(grad: Float32Array): Tolerance {
  return { rtol: 2e-3, atol: 2e-4 * maxAbs(grad) + 2e-6 };
}

/**
 * The whole-model check is looser (the brief's 1e-2): BN over 12 rows and the softmax put real
 * curvature into the loss, so the h² truncation error of a central difference is ~3e-3 relative at
 * h = 5e-3 (it shrinks 4x when h halves, so it is not a gradient error), while smaller steps drown
 * in float32 round-off. Order-one bugs still fail by two orders of magnitude.
 */
function modelTol(grad: Float32Array): Tolerance {
  return { rtol: 1e-2, atol: 1e-3 * maxAbs(grad) + 1e-5 };
}

function checkLossOnOutputs(loss: LossName, rows: number, cols: number, soft: boolean, seed: number): Stats {
  const rng = new Rng(seed);
  const p = uniformArray(rows * cols, rng, 0.05, 0.95); // away from the 1e-7 clip
  const t = targets(rows, cols, soft, rng);
  const grad = new Float32Array(rows * cols);
  lossForward(reference, loss, rows, cols, p, t, grad, false);
  const objective = () => ({ value: lossForward(reference, loss, rows, cols, p, t, null, false) / rows, pattern: '' });
  const stats: Stats = { checked: 0, skipped: 0, worst: 0 };
  compareArray(`${loss} d/dp`, p, grad, objective, '', lossTol(grad), rng, stats, 1e-3);
  return stats;
}

/**
 * A Dense layer followed by a loss, as the end of a model: checks dx, dkernel, dbias of
 * loss(dense(x))/rows. `fused` uses the softmax+cross-entropy shortcut (gradient w.r.t. the logits
 * and backwardFromLogits), exactly as Sequential.trainOnBatch does.
 */
function checkDenseWithLoss(
  loss: LossName,
  activation: string,
  fused: boolean,
  soft: boolean,
  n: number,
  seed: number,
): { stats: Stats; dx: Float32Array; grads: Float32Array[] } {
  const rng = new Rng(seed);
  const cols = 4;
  const layer = new Dense({ units: cols, activation });
  layer.build([6], rng);
  randomizeWeights(layer, rng);
  const x = uniformArray(n * 6, rng, -1.5, 1.5);
  const t = targets(n, cols, soft, rng);
  const c0 = ctx();
  const p = layer.forward(x, n, true, c0);
  const grad = new Float32Array(n * cols);
  lossForward(reference, loss, n, cols, p, t, grad, fused);
  const dx = copy(fused ? layer.backwardFromLogits(grad, n, c0) : layer.backward(grad, n, c0));
  const grads = layer.weights.map((w) => copy(w.grad!));
  const objective = () => ({
    value: lossForward(reference, loss, n, cols, layer.forward(x, n, true, ctx()), t, null, false) / n,
    pattern: '',
  });
  const stats: Stats = { checked: 0, skipped: 0, worst: 0 };
  compareArray(`${loss} dx`, x, dx, objective, '', lossTol(dx), rng, stats);
  layer.weights.forEach((w, i) => compareArray(`${loss} d${w.name}`, w.value, grads[i], objective, '', lossTol(grads[i]), rng, stats));
  return { stats, dx, grads };
}

describe('gradcheck: losses', () => {
  test('categorical cross-entropy fused with softmax (gradient w.r.t. logits, backwardFromLogits), one-hot, n=3', (t) => {
    const { stats } = checkDenseWithLoss('categorical_crossentropy', 'softmax', true, false, 3, 700);
    t.diagnostic(`checked ${stats.checked}, worst err/tol ${stats.worst.toFixed(3)}`);
  });

  test('categorical cross-entropy fused with softmax, soft targets, n=1', () => {
    checkDenseWithLoss('categorical_crossentropy', 'softmax', true, true, 1, 701);
  });

  test('sparse categorical cross-entropy (one-hot after gathering) fused, n=3', () => {
    checkDenseWithLoss('sparse_categorical_crossentropy', 'softmax', true, false, 3, 702);
  });

  test('cross-entropy unfused (w.r.t. probabilities, then softmax backward) equals the fused gradient', () => {
    const a = checkDenseWithLoss('categorical_crossentropy', 'softmax', true, true, 3, 703);
    const b = checkDenseWithLoss('categorical_crossentropy', 'softmax', false, true, 3, 703);
    for (const [u, v, what] of [[a.dx, b.dx, 'dx'], ...a.grads.map((g, i) => [g, b.grads[i], `grad ${i}`] as const)] as const) {
      for (let i = 0; i < u.length; i++) {
        assert.ok(close(u[i], v[i], { rtol: 1e-4, atol: 1e-6 * maxAbs(u) }), `${what}[${i}]: fused ${u[i]} vs unfused ${v[i]}`);
      }
    }
  });

  test('categorical cross-entropy w.r.t. probabilities (gradIsLogits=false), one-hot and soft', () => {
    checkLossOnOutputs('categorical_crossentropy', 3, 5, false, 710);
    checkLossOnOutputs('categorical_crossentropy', 1, 5, true, 711);
  });

  test('cross-entropy clips p to [1e-7, 1−1e-7] like Keras: value −log(1e-7), zero gradient when clipped', () => {
    const p = Float32Array.from([1e-9, 1 - 1e-9]);
    const t = Float32Array.from([1, 0]);
    const grad = new Float32Array(2);
    const l = lossForward(reference, 'categorical_crossentropy', 1, 2, p, t, grad, false);
    assert.ok(close(l, -Math.log(1e-7), { rtol: 1e-6, atol: 0 }), `loss ${l}`);
    assert.deepEqual(Array.from(grad), [0, 0]);
  });

  test('mean squared error w.r.t. outputs (Keras: mean over outputs, then over the batch)', () => {
    checkLossOnOutputs('mean_squared_error', 3, 5, false, 720);
    checkLossOnOutputs('mean_squared_error', 1, 4, true, 721);
    // and the value itself: rows (0.5, 0) vs (1, 0) and (0, 0) vs (0, 1): ((0.25 + 0)/2 + (0 + 1)/2) summed
    const l = lossForward(
      reference,
      'mean_squared_error',
      2,
      2,
      Float32Array.from([0.5, 0, 0, 0]),
      Float32Array.from([1, 0, 0, 1]),
      null,
      false,
    );
    assert.ok(close(l, 0.125 + 0.5, { rtol: 1e-7, atol: 0 }), `summed MSE ${l}`);
  });

  test('mean squared error through softmax (seed001-small style) and through a linear Dense, n=3', () => {
    checkDenseWithLoss('mean_squared_error', 'softmax', false, false, 3, 730);
    checkDenseWithLoss('mean_squared_error', 'linear', false, true, 3, 731);
  });
});

// ---------------------------------------------------------------------------------------------
// Whole model: conv (same, stride 2, relu) → BN → maxpool → flatten → dense softmax. The analytic
// gradients are whatever trainOnBatch leaves in w.grad with SGD(lr = 0), so this checks the model's
// own backward chain (including the fused softmax/cross-entropy), not a re-implementation of it.
// Without BN the conv's ReLU feeds the pool directly, and the model lets the pool do its backward.

// The 'image' variant is a single-channel stride-1 conv into 2x2 pooling, which trainOnBatch runs as
// the fused conv2dReluMaxPool kernels while the objective below runs the layers one by one.
function wholeModelCheck(loss: LossName, n: number, seed: number, bn = true, image = false): Stats {
  const rng = new Rng(seed);
  const inputShape = image ? [8, 8, 1] : [7, 7, 2];
  const model = new Sequential({
    kernels: reference,
    seed,
    layers: [
      image
        ? new Conv2D({ filters: 4, kernelSize: 3, activation: 'relu', inputShape })
        : new Conv2D({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', inputShape }),
      ...(bn ? [new BatchNormalization()] : []),
      new MaxPooling2D({ poolSize: 2 }),
      new Flatten(),
      new Dense({ units: 5, activation: 'softmax' }),
    ],
  });
  model.build();
  for (const l of model.layers) randomizeWeights(l, rng);
  model.compile({ optimizer: new SGD({ learningRate: 0 }), loss });
  assert.equal(model.kernels.name, 'reference');
  const classes = 5;
  const x = uniformArray(n * inputShape[0] * inputShape[1] * inputShape[2], rng, -1, 1);
  const t = targets(n, classes, false, rng);
  const all = model.layers.flatMap((l) => l.weights);
  const saved = all.map((w) => copy(w.value));
  const restoreFrozen = (): void =>
    all.forEach((w, i) => {
      if (!w.grad) w.value.set(saved[i]);
    });

  // loss without an optimizer step: the same forward as trainOnBatch, layer by layer so that the
  // kink pattern (conv ReLU bits, pooling winners) can be read off along the way
  const objective = (): { value: number; pattern: string } => {
    restoreFrozen();
    const c = model.context(new Rng(CTX_SEED));
    let h = x;
    let pat = '';
    for (const l of model.layers) {
      const y = l.forward(h, n, true, c);
      pat += pattern(l, h, y, n) + '|';
      h = y;
    }
    return { value: lossForward(reference, loss, n, classes, h, t, null, false) / n, pattern: pat };
  };
  const base = objective();

  restoreFrozen();
  const r = model.trainOnBatch(x, t, n, model.context(new Rng(CTX_SEED)));
  assert.equal((model.layers[0] as Conv2D).pooledBy !== null, image, 'fused first layer');
  assert.ok(close(r.loss / n, base.value, { rtol: 1e-6, atol: 0 }), `trainOnBatch loss ${r.loss / n} vs forward ${base.value}`);
  all.forEach((w, i) =>
    assert.deepEqual(w.grad ? Array.from(w.value) : [], w.grad ? Array.from(saved[i]) : [], `SGD(lr=0) moved ${w.name}`),
  );
  const trainable = model.layers.flatMap((l) =>
    l.weights.filter((w) => w.grad).map((w) => ({ name: `${l.name}/${w.name}`, w, g: copy(w.grad!) })),
  );
  assert.equal(trainable.length, bn ? 6 : 4); // conv kernel+bias, gamma, beta, dense kernel+bias

  const stats: Stats = { checked: 0, skipped: 0, worst: 0 };
  for (const { name, w, g } of trainable)
    compareArray(`model(${loss}) ${name}`, w.value, g, objective, base.pattern, modelTol(g), rng, stats, 5e-3);
  restoreFrozen();
  assert.ok(
    stats.checked >= (2 * (stats.checked + stats.skipped)) / 3,
    `only ${stats.checked} of ${stats.checked + stats.skipped} were away from kinks`,
  );
  return stats;
}

describe('gradcheck: whole Sequential model through trainOnBatch', () => {
  test('conv(same,/2,relu) → BN → maxpool → flatten → dense softmax, categorical cross-entropy, n=3', (t) => {
    const s = wholeModelCheck('categorical_crossentropy', 3, 800);
    t.diagnostic(`checked ${s.checked}, skipped ${s.skipped}, worst err/tol ${s.worst.toFixed(3)}`);
  });
  test('same model, mean squared error (unfused softmax backward), n=3', (t) => {
    const s = wholeModelCheck('mean_squared_error', 3, 801);
    t.diagnostic(`checked ${s.checked}, skipped ${s.skipped}, worst err/tol ${s.worst.toFixed(3)}`);
  });
  test('same model, categorical cross-entropy, batch size 1', (t) => {
    const s = wholeModelCheck('categorical_crossentropy', 1, 802);
    t.diagnostic(`checked ${s.checked}, skipped ${s.skipped}, worst err/tol ${s.worst.toFixed(3)}`);
  });
  test('without BN: conv ReLU straight into maxpool (ReLU backward done by the pool), n=4', (t) => {
    const s = wholeModelCheck('categorical_crossentropy', 4, 803, false);
    t.diagnostic(`checked ${s.checked}, skipped ${s.skipped}, worst err/tol ${s.worst.toFixed(3)}`);
  });
  test('single-channel stride-1 conv ReLU into 2x2 maxpool (the fused first layer), n=3', (t) => {
    const s = wholeModelCheck('categorical_crossentropy', 3, 804, false, true);
    t.diagnostic(`checked ${s.checked}, skipped ${s.skipped}, worst err/tol ${s.worst.toFixed(3)}`);
  });
});
