// Golden values: one training step of three presets against an independent float64 PyTorch
// implementation (scripts/golden.py, which writes test/fixtures/golden/<preset>.json). Neither the
// weights nor the input are stored in the fixtures: both come from closed-form formulas that the
// script documents and this file re-implements (initValue, makeInput), so a mismatch in layout
// (HWIO vs OIHW, NHWC flatten order, TF 'same' padding) shows up as wrong numbers, not as a
// silently "matching" copy of our own weights. The last suite checks single kernels the presets do
// not use (kernels.json), on both cores.
//
// The fixtures treat Dropout as the identity, so every Dropout's rate is set to 0 (its training
// forward then returns the input unchanged). The model is compiled with SGD(lr = 0): trainOnBatch
// runs forward, loss and backward exactly as in training, and the weights stay where the formula
// put them. BatchNormalization's moving statistics still update in the forward (as in Keras), and
// are compared with the script's movingAfter.
//
// Tolerances. Our kernels store float32 (≈6e-8 relative per value) against a float64 reference.
// seed001-small and seed002-cnn: probabilities to 1e-5 absolute, the loss to 1e-5 relative, and each
// gradient array with an absolute floor of 1e-4 × its largest sampled magnitude plus 1e-4 relative
// (sums: 1e-4 × the absolute sum, a bound on how far per-element errors can move either). Measured
// errors are ~1e-8 on probabilities and ≤ 2e-6 on gradients, while a layout or padding mistake moves
// them by 1e-3 or more. seed003-bn is looser (see the comment at its suite) because it is genuinely
// ill-conditioned in float32, and seed001-small's first kernel has pooling near-ties that float32
// cannot resolve (see nearTieFilters); both are measured, documented exceptions, not slack.
process.env.DIGITS_BACKEND = 'reference';

import { describe, test, before } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { getPreset } from '../src/zoo/presets';
import { Conv2D, Dropout, MaxPooling2D } from '../src/layers';
import type { Sequential } from '../src/model/sequential';
import { SGD } from '../src/model/optimizers';
import { assertClose, maxAbs, sums } from './helpers/numeric';
import { ELTWISE_KINDS, type Eltwise, type Kernels, type PoolGeom } from '../src/kernels/kernels';
import { reference } from '../src/kernels/reference';
import { loadNative } from '../src/kernels/native';

const GOLDEN = path.resolve(__dirname, '../../test/fixtures/golden');
const N = 5;
const CLASSES = 10;

interface Fixture {
  preset: string;
  batch: number;
  loss: number;
  probs: number[];
  weights: { name: string; shape: number[]; trainable: boolean }[];
  grads: { name: string; shape: number[]; size: number; sum: number; absSum: number; idx: number[]; values: number[] }[];
  movingAfter?: { layer: string; mean: number[]; variance: number[] }[];
  inferenceProbs?: number[];
}

/** The script's init_value in float64: weight `role` (our Weight.name) at position p of the full Keras list. */
function initValue64(role: string, shape: number[], p: number): Float64Array {
  const size = shape.reduce((a, b) => a * b, 1);
  const v = new Float64Array(size);
  let f: (i: number) => number;
  if (role === 'kernel') {
    // conv HWIO: fan_in = kh·kw·cin, fan_out = kh·kw·cout; dense [in, out]: in, out
    const [fanIn, fanOut] = shape.length === 4 ? [shape[0] * shape[1] * shape[2], shape[0] * shape[1] * shape[3]] : [shape[0], shape[1]];
    const limit = Math.sqrt(6 / (fanIn + fanOut));
    f = (i) => limit * Math.sin(0.37 * i + 1.3 * p + 0.5);
  } else if (role === 'bias') f = (i) => 0.05 * Math.cos(0.91 * i + p);
  else if (role === 'gamma') f = (i) => 1 + 0.1 * Math.sin(0.5 * i + p);
  else if (role === 'beta') f = (i) => 0.05 * Math.cos(0.3 * i + p);
  else if (role === 'moving_mean') f = (i) => 0.1 * Math.sin(0.7 * i + p);
  else if (role === 'moving_variance') f = (i) => 1 + 0.5 * Math.abs(Math.cos(0.2 * i + p));
  else throw new Error(`golden: no formula for weight role '${role}'`);
  for (let i = 0; i < size; i++) v[i] = f(i);
  return v;
}

const initValue = (role: string, shape: number[], p: number): Float32Array => Float32Array.from(initValue64(role, shape, p));

/** The script's make_input in float64: x[NHWC flat i] = 0.5 + 0.5·sin(0.05 i)·cos(0.011 i). */
function input64(): Float64Array {
  const x = new Float64Array(N * 28 * 28);
  for (let i = 0; i < x.length; i++) x[i] = 0.5 + 0.5 * Math.sin(0.05 * i) * Math.cos(0.011 * i);
  return x;
}

/**
 * Filters of the first conv whose following max-pool has a window where the top two values are
 * equal to within float32 resolution (relative gap < 1e-6, a few ulps of a 16-term float32 sum), computed in float64 from the formulas.
 * The input formula is smooth, so neighbouring conv outputs can tie to 1e-7 (seed001-small filter 6
 * has a gap of 1e-8 on a value of 0.12): float32 and float64 then pick different winners, which
 * routes that window's gradient to a neighbouring position and moves those filters' kernel gradient
 * by ~1e-3 of the array's scale — a property of the fixture, not of either implementation. Only the
 * first conv's kernel is affected (its bias gradient and everything downstream see the same value).
 */
function nearTieFilters(model: Sequential): Set<number> {
  const [conv, pool] = model.layers;
  const ties = new Set<number>();
  if (!(conv instanceof Conv2D) || !(pool instanceof MaxPooling2D) || conv.padding !== 'valid' || pool.padding !== 'valid') return ties;
  const [h, w, c] = conv.inputShape;
  const [oh, ow, f] = conv.outputShape;
  const [kh, kw] = conv.kernelSize;
  const [sh, sw] = conv.strides;
  const kernel = initValue64('kernel', [kh, kw, c, f], 0);
  const bias = initValue64('bias', [f], 1);
  const x = input64();
  const y = new Float64Array(N * oh * ow * f);
  for (let n = 0; n < N; n++)
    for (let oy = 0; oy < oh; oy++)
      for (let ox = 0; ox < ow; ox++)
        for (let k = 0; k < f; k++) {
          let s = bias[k];
          for (let ky = 0; ky < kh; ky++)
            for (let kx = 0; kx < kw; kx++)
              for (let ci = 0; ci < c; ci++) {
                s += x[((n * h + oy * sh + ky) * w + ox * sw + kx) * c + ci] * kernel[((ky * kw + kx) * c + ci) * f + k];
              }
          y[((n * oh + oy) * ow + ox) * f + k] = Math.max(s, 0);
        }
  const [ph, pw] = pool.poolSize;
  const [psh, psw] = pool.strides;
  const [qh, qw] = pool.outputShape;
  for (let n = 0; n < N; n++)
    for (let qy = 0; qy < qh; qy++)
      for (let qx = 0; qx < qw; qx++)
        for (let k = 0; k < f; k++) {
          const v: number[] = [];
          for (let a = 0; a < ph; a++) for (let b = 0; b < pw; b++) v.push(y[((n * oh + qy * psh + a) * ow + qx * psw + b) * f + k]);
          v.sort((p, q) => q - p);
          if (v[0] > 0 && v[0] - v[1] < 1e-6 * v[0]) ties.add(k);
        }
  return ties;
}

/** x[NHWC flat i] = 0.5 + 0.5·sin(0.05 i)·cos(0.011 i); labels (3k+1) % 10, one-hot. */
function makeInput(): { x: Float32Array; t: Float32Array } {
  const x = Float32Array.from(input64());
  const t = new Float32Array(N * CLASSES);
  for (let k = 0; k < N; k++) t[k * CLASSES + ((3 * k + 1) % CLASSES)] = 1;
  return { x, t };
}

/** Preset as built by the zoo, with dropout disabled and the formula weights in place. */
function goldenModel(name: string): Sequential {
  const model = getPreset(name).build();
  model.build();
  for (const l of model.layers) if (l instanceof Dropout) l.rate = 0;
  const ws = model.layers.flatMap((l) => l.weights);
  model.setWeights(ws.map((w, p) => initValue(w.name, w.shape, p)));
  assert.equal(model.kernels.name, 'reference');
  return model;
}

function assertArrayClose(actual: ArrayLike<number>, expected: number[], atol: number, rtol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) assertClose(actual[i], expected[i], { rtol, atol }, `${what}[${i}]`);
}

interface GoldenTol {
  /** Absolute tolerance on each probability. */
  probs: number;
  /** Relative tolerance on the batch-mean loss. */
  loss: number;
  /** Per gradient array: floor = grad·max|sampled|, plus grad relative; sums to grad·absSum. */
  grad: number;
}

function goldenSuite(name: string, tol: GoldenTol): void {
  const gradRel = tol.grad;
  describe(`golden: ${name}`, () => {
    let fx: Fixture;
    let model: Sequential;
    let probs: Float32Array;
    let loss: number;
    const { x, t } = makeInput();

    before(() => {
      fx = JSON.parse(fs.readFileSync(path.join(GOLDEN, `${name}.json`), 'utf8')) as Fixture;
      assert.equal(fx.preset, name);
      assert.equal(fx.batch, N);
      model = goldenModel(name);
      model.compile({ optimizer: new SGD({ learningRate: 0 }), loss: getPreset(name).recipe.loss });
      // capture the probabilities trainOnBatch itself computes (its forward output buffer)
      const forward = model.forward.bind(model);
      model.forward = (...args: Parameters<Sequential['forward']>) => {
        const out = forward(...args);
        probs = Float32Array.from(out);
        return out;
      };
      loss = model.trainOnBatch(x, t, N).loss / N; // trainOnBatch returns the batch sum
    });

    test('weight names, shapes, order and trainability match the Keras list', () => {
      const ours = model.layers.flatMap((l) =>
        l.weights.map((w) => ({ name: `${l.name}/${w.name}`, shape: w.shape, trainable: w.grad !== null })),
      );
      assert.deepEqual(ours, fx.weights);
    });

    test('forward probabilities (training mode)', () => {
      assertArrayClose(probs, fx.probs, tol.probs, 0, 'probs');
    });

    test('loss (batch mean)', () => {
      assertClose(loss, fx.loss, { rtol: tol.loss, atol: 0 }, 'loss');
    });

    test('every trainable gradient: sum, |sum| and 40 sampled values', () => {
      const trainable = model.layers.flatMap((l) => l.weights.filter((w) => w.grad).map((w) => ({ name: `${l.name}/${w.name}`, w })));
      assert.deepEqual(
        trainable.map((e) => e.name),
        fx.grads.map((g) => g.name),
      );
      const ties = nearTieFilters(model);
      for (const [j, g] of fx.grads.entries()) {
        const { w } = trainable[j];
        assert.deepEqual(w.shape, g.shape, `${g.name} shape`);
        assert.equal(w.grad!.length, g.size, `${g.name} size`);
        // the first kernel's filters with float32-unresolvable pooling ties (see nearTieFilters) get 1e-2
        const tied = (i: number): boolean => j === 0 && ties.has(i % g.shape[g.shape.length - 1]);
        const sumRel = j === 0 && ties.size > 0 ? 1e-3 : gradRel;
        const s = sums(w.grad!);
        assertClose(s.sum, g.sum, { rtol: 0, atol: sumRel * g.absSum }, `${g.name} sum`);
        assertClose(s.absSum, g.absSum, { rtol: sumRel, atol: 0 }, `${g.name} absSum`);
        const floor = maxAbs(g.values);
        g.idx.forEach((i, k) => {
          const r = tied(i) ? 1e-2 : gradRel;
          assertClose(
            w.grad![i],
            g.values[k],
            { rtol: r, atol: r * floor },
            `${g.name} grad[${i}]${tied(i) ? ' (pooling near-tie filter)' : ''}`,
          );
        });
        if (j === 0)
          assert.ok(g.idx.filter(tied).length <= g.idx.length / 4, `${g.name}: too many samples in near-tie filters ${[...ties]}`);
      }
    });

    test('near-tie filters (float64 max-pool gaps < 1e-6) are few: the loosened check covers little', () => {
      const ties = nearTieFilters(model);
      const filters = fx.grads[0].shape[3];
      assert.ok(ties.size <= filters / 8, `${ties.size} of ${filters} filters have near-ties: ${[...ties]}`);
    });

    test('SGD with learning rate 0 left every trainable weight where the formula put it', () => {
      model.layers
        .flatMap((l) => l.weights)
        .forEach((w, p) => {
          if (w.grad) assert.deepEqual(Array.from(w.value), Array.from(initValue(w.name, w.shape, p)), w.name);
        });
    });
  });
}

goldenSuite('seed001-small', { probs: 1e-5, loss: 1e-5, grad: 1e-4 });
goldenSuite('seed002-cnn', { probs: 1e-5, loss: 1e-5, grad: 1e-4 });
// seed003-bn is ill-conditioned in float32: perturbing every input and weight by a random 1e-7
// relative (float32 round-off size) moves its training-mode probabilities by ~1e-5 absolute and
// 1e-4 relative (measured; seed002-cnn moves by 1e-8). Batch-5 BN after the dense layer divides by
// standard deviations of five values, some of them small. So: probabilities 3e-5 absolute, loss
// 5e-5 relative (the label probabilities are as small as 4e-3, so −log p turns 1e-7-level absolute
// errors into 2e-5 relative), gradients 5e-4. A layout or padding bug still moves them by >1e-3.
goldenSuite('seed003-bn', { probs: 3e-5, loss: 5e-5, grad: 5e-4 });

describe('golden: seed003-bn batch-norm statistics', () => {
  const fx = (): Fixture => JSON.parse(fs.readFileSync(path.join(GOLDEN, 'seed003-bn.json'), 'utf8')) as Fixture;
  const { x, t } = makeInput();

  test('moving mean / variance after one training step (momentum 0.99, unbiased variance)', () => {
    const f = fx();
    const model = goldenModel('seed003-bn');
    model.compile({ optimizer: new SGD({ learningRate: 0 }), loss: 'categorical_crossentropy' });
    model.trainOnBatch(x, t, N);
    const bns = model.layers.filter((l) => l.className === 'BatchNormalization');
    assert.deepEqual(
      bns.map((l) => l.name),
      f.movingAfter!.map((m) => m.layer),
    );
    for (const [j, m] of f.movingAfter!.entries()) {
      const [, , mean, variance] = bns[j].weights;
      assert.equal(mean.name, 'moving_mean');
      assert.equal(variance.name, 'moving_variance');
      assertArrayClose(mean.value, m.mean, 1e-6, 1e-5, `${m.layer}/moving_mean`);
      assertArrayClose(variance.value, m.variance, 1e-6, 1e-5, `${m.layer}/moving_variance`);
    }
  });

  test('inference probabilities use the initial moving statistics (fresh model, training = false)', () => {
    const f = fx();
    const model = goldenModel('seed003-bn');
    const before = model.getWeights().map((w) => Float32Array.from(w));
    const out = model.forward(x, N, false);
    assertArrayClose(out, f.inferenceProbs!, 1e-5, 0, 'inferenceProbs');
    // inference must not touch the moving statistics
    model.getWeights().forEach((w, i) => assert.deepEqual(Array.from(w), Array.from(before[i]), `weight ${i} changed in inference`));
  });
});

// ---------------------------------------------------------------------------------------------
// Kernels no preset uses yet (every activation, TF average pooling) against float64 PyTorch, on
// both cores. Inputs are the script's formulas rounded to float32. Tolerances, per element
// |ours − torch| ≤ atol + rtol·|torch|: float32 storage alone is 6e-8 relative, and derivatives taken
// from the float32 output (sigmoid, tanh near ±1) lose up to 6e-8 absolute; the reference measures
// within 1e-6 relative + 6e-8 absolute. oneDNN's vectorised exp/erf approximations add up to 5e-7
// absolute (mish, softplus, gelu; measured), hence the native bound. A wrong formula, constant or
// padding rule misses by 1e-3 or more.

interface KernelFixture {
  eltwise: { kind: Eltwise; alpha: number | null; y: number[]; grad: number[] }[];
  avgPool: { name: string; geom: PoolGeom; y: number[]; dx: number[] }[];
}

const KERNEL_TOL = { reference: { rtol: 1e-6, atol: 1e-7 }, native: { rtol: 1e-5, atol: 1e-6 } };
const nativeKernels = loadNative();

describe('golden: kernels against PyTorch (float64)', () => {
  const fx = (): KernelFixture => JSON.parse(fs.readFileSync(path.join(GOLDEN, 'kernels.json'), 'utf8')) as KernelFixture;
  const cores: Array<[keyof typeof KERNEL_TOL, Kernels | null]> = [
    ['reference', reference],
    ['native', nativeKernels],
  ];
  for (const [name, k] of cores) {
    const skip = k ? false : 'native addon not loaded';
    const { rtol, atol } = KERNEL_TOL[name];
    test(`${name}: every activation, forward and derivative`, { skip }, () => {
      const x = new Float32Array(97).map((_, i) => 7.5 * Math.sin(0.7 * i + 0.3));
      const kinds = new Set<Eltwise>();
      for (const e of fx().eltwise) {
        const alpha = e.alpha ?? undefined;
        const y = new Float32Array(x.length),
          dx = new Float32Array(x.length);
        k!.eltwiseForward(e.kind, x, y, alpha);
        k!.eltwiseBackward(e.kind, x, y, new Float32Array(x.length).fill(1), dx, alpha);
        assertArrayClose(y, e.y, atol, rtol, `${e.kind} alpha=${alpha} y`);
        assertArrayClose(dx, e.grad, atol, rtol, `${e.kind} alpha=${alpha} dy/dx`);
        kinds.add(e.kind);
      }
      assert.deepEqual([...kinds].sort(), [...ELTWISE_KINDS].sort(), 'the fixture covers every kind');
    });
    test(`${name}: average pooling (TF: padding not counted), forward and backward`, { skip }, () => {
      for (const p of fx().avgPool) {
        const g = p.geom;
        const x = new Float32Array(g.n * g.h * g.w * g.c).map((_, i) => Math.sin(0.37 * i + 0.1));
        const dy = new Float32Array(g.n * g.oh * g.ow * g.c).map((_, i) => Math.cos(0.23 * i));
        const y = new Float32Array(dy.length),
          dx = new Float32Array(x.length).fill(NaN);
        k!.avgPool2dForward(g, x, y);
        k!.avgPool2dBackward(g, dy, dx);
        assertArrayClose(y, p.y, atol, rtol, `${p.name} y`);
        assertArrayClose(dx, p.dx, atol, rtol, `${p.name} dx`);
      }
    });
  }
});
