// Optimizers against the tf.keras 2.x update rules, worked out here in plain JS doubles for three
// steps on a few scalars. The parameters live in Float32Arrays, so each step rounds to float32
// (≈6e-8 relative); three steps stay well inside the 1e-6 relative comparison, while any formula
// difference (ε inside vs outside the square root, missing bias correction, Nesterov vs classical
// momentum) changes the result by far more than 1e-6 — the tests below pick hyper-parameters where
// each such alternative is visibly different, and assert that too.
process.env.DIGITS_BACKEND = 'reference';

import { describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { reference } from '../src/kernels/reference';
import { weight, type Weight } from '../src/layers';
import { Adam, AdamW, makeOptimizer, RMSprop, SGD, type Optimizer } from '../src/model/optimizers';
import { UsageError } from '../src/errors';
import { assertRel } from './helpers/numeric';

const REL = 1e-6;
const W0 = [0, 0.25, -1];
/** Gradients of steps 1, 2, 3 (one row per step), with sign changes and a large and a small entry. */
const GRADS = [
  [0.5, -0.3, 2.0],
  [0.1, -0.4, -1.0],
  [-0.2, 0.6, 0.005],
];

/** Scalar update rule: state in, (parameter, gradient, 1-based step) → new parameter. */
type Rule = (w: number, g: number, t: number, s: Record<string, number>) => number;

/** Expected parameter trajectory (after each step) for each scalar, in float64. */
function expected(rule: Rule, w0 = W0, grads = GRADS): number[][] {
  const states = w0.map(() => ({}) as Record<string, number>);
  const w = [...w0];
  return grads.map((row, s) => {
    row.forEach((g, i) => {
      w[i] = rule(w[i], g, s + 1, states[i]);
    });
    return [...w];
  });
}

/** Run the optimizer on one trainable weight (plus a non-trainable one it must not touch). */
function run(opt: Optimizer, w0 = W0, grads = GRADS): { after: number[][]; frozen: Weight } {
  const w = weight('kernel', [w0.length], true, (i) => w0[i]);
  const frozen = weight('moving_mean', [2], false, (i) => i + 0.5);
  const after: number[][] = [];
  for (const row of grads) {
    w.grad!.set(row);
    opt.step(reference, [frozen, w]);
    after.push(Array.from(w.value));
  }
  return { after, frozen };
}

function assertTrajectory(actual: number[][], want: number[][], what: string): void {
  want.forEach((row, s) => row.forEach((v, i) => assertRel(actual[s][i], v, REL, `${what}: step ${s + 1}, w[${i}]`)));
}

function maxRelDiff(a: number[][], b: number[][]): number {
  let m = 0;
  a.forEach((row, s) =>
    row.forEach((v, i) => {
      m = Math.max(m, Math.abs(v - b[s][i]) / Math.max(Math.abs(b[s][i]), 1e-12));
    }),
  );
  return m;
}

// ---- the tf.keras 2.x rules ------------------------------------------------------------------

const sgdRule =
  (lr: number): Rule =>
  (w, g) =>
    w - lr * g;

/** v = m·v − lr·g; w += v (classical), or w += m·v − lr·g (Nesterov, Keras' formulation). */
const momentumRule =
  (lr: number, m: number, nesterov: boolean): Rule =>
  (w, g, _t, s) => {
    s.v = m * (s.v ?? 0) - lr * g;
    return nesterov ? w + m * s.v - lr * g : w + s.v;
  };

/** ms = ρ·ms + (1−ρ)·g²; w −= lr·g / (√ms + ε) — ε outside the root (tf.keras 2.x, no momentum). */
const rmspropRule =
  (lr: number, rho: number, eps: number): Rule =>
  (w, g, _t, s) => {
    s.ms = rho * (s.ms ?? 0) + (1 - rho) * g * g;
    return w - (lr * g) / (Math.sqrt(s.ms) + eps);
  };

/** lr_t = lr·√(1−β₂ᵗ)/(1−β₁ᵗ); m, v moments; w −= lr_t·m / (√v + ε) — ε outside, not bias-corrected. */
const adamRule =
  (lr: number, b1: number, b2: number, eps: number): Rule =>
  (w, g, t, s) => {
    s.m = b1 * (s.m ?? 0) + (1 - b1) * g;
    s.v = b2 * (s.v ?? 0) + (1 - b2) * g * g;
    const lrT = (lr * Math.sqrt(1 - Math.pow(b2, t))) / (1 - Math.pow(b1, t));
    return w - (lrT * s.m) / (Math.sqrt(s.v) + eps);
  };

describe('optimizers: SGD', () => {
  test('plain: w −= lr·g', () => {
    const { after, frozen } = run(new SGD({ learningRate: 0.1 }));
    assertTrajectory(after, expected(sgdRule(0.1)), 'sgd');
    assert.deepEqual(Array.from(frozen.value), [0.5, 1.5], 'non-trainable weights are not updated');
  });

  test('momentum 0.9: v = m·v − lr·g, w += v', () => {
    const { after } = run(new SGD({ learningRate: 0.1, momentum: 0.9 }));
    assertTrajectory(after, expected(momentumRule(0.1, 0.9, false)), 'momentum');
    // step 2 already differs from plain SGD by m·v₁ (≥ 0.9·0.1·0.3)
    assert.ok(maxRelDiff(after, expected(sgdRule(0.1))) > 1e-2);
  });

  test('Nesterov 0.9: w += m·v − lr·g', () => {
    const { after } = run(new SGD({ learningRate: 0.1, momentum: 0.9, nesterov: true }));
    assertTrajectory(after, expected(momentumRule(0.1, 0.9, true)), 'nesterov');
    assert.ok(maxRelDiff(after, expected(momentumRule(0.1, 0.9, false))) > 1e-2, 'Nesterov must differ from classical momentum');
  });

  test('hand-checked first step: w = 0.25, g = −0.3, lr 0.1, momentum 0.9, Nesterov → 0.25 + 0.9·0.03 + 0.03', () => {
    const { after } = run(new SGD({ learningRate: 0.1, momentum: 0.9, nesterov: true }), [0.25], [[-0.3]]);
    assertRel(after[0][0], 0.25 + 0.9 * 0.03 + 0.03, REL, 'nesterov step 1');
  });
});

describe('optimizers: RMSprop', () => {
  test('lr 0.01, ρ 0.9, ε 1e-7: ms = ρ·ms + (1−ρ)·g², w −= lr·g/(√ms + ε)', () => {
    const { after, frozen } = run(new RMSprop({ learningRate: 0.01, rho: 0.9, epsilon: 1e-7 }));
    assertTrajectory(after, expected(rmspropRule(0.01, 0.9, 1e-7)), 'rmsprop');
    assert.deepEqual(Array.from(frozen.value), [0.5, 1.5]);
  });

  test('a large ε (0.1) is added outside the square root', () => {
    const { after } = run(new RMSprop({ learningRate: 0.01, rho: 0.9, epsilon: 0.1 }));
    assertTrajectory(after, expected(rmspropRule(0.01, 0.9, 0.1)), 'rmsprop ε=0.1');
    const inside: Rule = (w, g, _t, s) => {
      s.ms = 0.9 * (s.ms ?? 0) + 0.1 * g * g;
      return w - (0.01 * g) / Math.sqrt(s.ms + 0.1);
    };
    assert.ok(maxRelDiff(after, expected(inside)) > 1e-3, 'ε inside the root would give a different trajectory');
  });

  test('hand-checked first step: g = 0.5 → ms = 0.025, w = −0.01·0.5/(√0.025 + 1e-7)', () => {
    const { after } = run(new RMSprop({ learningRate: 0.01 }), [0], [[0.5]]);
    assertRel(after[0][0], -0.005 / (Math.sqrt(0.025) + 1e-7), REL, 'rmsprop step 1');
  });
});

describe('optimizers: Adam', () => {
  test('lr 0.01, β 0.9/0.999, ε 1e-7: bias correction folded into lr_t = lr·√(1−β₂ᵗ)/(1−β₁ᵗ)', () => {
    const opt = new Adam({ learningRate: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 });
    const { after, frozen } = run(opt);
    assertTrajectory(after, expected(adamRule(0.01, 0.9, 0.999, 1e-7)), 'adam');
    assert.equal(opt.iterations, 3);
    assert.deepEqual(Array.from(frozen.value), [0.5, 1.5]);
    // without the bias correction step 1 would move by lr·(1−β₁)·g/(√(1−β₂)·|g|) ≈ 0.0316·lr instead of lr
    const noCorrection: Rule = (w, g, _t, s) => {
      s.m = 0.9 * (s.m ?? 0) + 0.1 * g;
      s.v = 0.999 * (s.v ?? 0) + 0.001 * g * g;
      return w - (0.01 * s.m) / (Math.sqrt(s.v) + 1e-7);
    };
    assert.ok(maxRelDiff(after, expected(noCorrection)) > 1e-2);
  });

  test('hand-checked first step: w moves by −lr·sign(g) (m̂/√v̂ = g/|g|)', () => {
    const { after } = run(new Adam({ learningRate: 0.01 }), [0, 0.25], [[0.5, -0.3]]);
    // lr_1 = 0.01·√0.001/0.1, m = 0.1·g, √v = √0.001·|g|: the step is 0.01·|g|/(|g| + ε/√0.001)
    assertRel(after[0][0], (-0.01 * 0.5) / (0.5 + 1e-7 / Math.sqrt(0.001)), REL, 'adam step 1, w[0]');
    assertRel(after[0][1], 0.25 + (0.01 * 0.3) / (0.3 + 1e-7 / Math.sqrt(0.001)), REL, 'adam step 1, w[1]');
  });

  test('a large ε (0.1) is added to √v outside the root and is not bias-corrected (Keras, not PyTorch)', () => {
    const grads = GRADS.map((row) => row.map((g) => g * 0.05)); // √v comparable to ε, so ε matters
    const { after } = run(new Adam({ learningRate: 0.01, epsilon: 0.1 }), W0, grads);
    assertTrajectory(after, expected(adamRule(0.01, 0.9, 0.999, 0.1), W0, grads), 'adam ε=0.1');
    // PyTorch: lr·m̂/(√v̂ + ε) = lr_t·m/(√v + ε·√(1−β₂ᵗ)); ε inside: lr_t·m/√(v + ε)
    const torch: Rule = (w, g, t, s) => {
      s.m = 0.9 * (s.m ?? 0) + 0.1 * g;
      s.v = 0.999 * (s.v ?? 0) + 0.001 * g * g;
      return w - (0.01 * (s.m / (1 - 0.9 ** t))) / (Math.sqrt(s.v / (1 - 0.999 ** t)) + 0.1);
    };
    const inside: Rule = (w, g, t, s) => {
      s.m = 0.9 * (s.m ?? 0) + 0.1 * g;
      s.v = 0.999 * (s.v ?? 0) + 0.001 * g * g;
      return w - (((0.01 * Math.sqrt(1 - 0.999 ** t)) / (1 - 0.9 ** t)) * s.m) / Math.sqrt(s.v + 0.1);
    };
    assert.ok(maxRelDiff(after, expected(torch, W0, grads)) > 1e-2, 'PyTorch ε placement would differ');
    assert.ok(maxRelDiff(after, expected(inside, W0, grads)) > 1e-2, 'ε inside the root would differ');
  });

  test('checkpointed state (iterations, m, v) resumes the same trajectory', () => {
    const a = new Adam({ learningRate: 0.01 });
    const wa = weight('kernel', [3], true, (i) => W0[i]);
    const wb = weight('kernel', [3], true, (i) => W0[i]);
    wa.grad!.set(GRADS[0]);
    a.step(reference, [wa]);
    const b = new Adam({ learningRate: 0.01 });
    const st = a.getState();
    wb.value.set(wa.value);
    b.setState({ iterations: st.iterations, slots: st.slots.map((s) => s.map((x) => Float32Array.from(x))) });
    for (const row of GRADS.slice(1)) {
      wa.grad!.set(row);
      a.step(reference, [wa]);
      wb.grad!.set(row);
      b.step(reference, [wb]);
    }
    assert.deepEqual(Array.from(wb.value), Array.from(wa.value));
    assert.equal(b.iterations, 3);
  });
});

describe('optimizers: AdamW', () => {
  /** Keras' (and PyTorch's) order: w −= lr·wd·w with the raw rate, then the Adam step on the decayed w. */
  const adamwRule = (lr: number, wd: number): Rule => {
    const adam = adamRule(lr, 0.9, 0.999, 1e-7);
    return (w, g, t, s) => adam(w - lr * wd * w, g, t, s);
  };

  test('lr 0.01, weight decay 0.5: decoupled decay, then the Adam step', () => {
    const opt = new AdamW({ learningRate: 0.01, weightDecay: 0.5 });
    const { after, frozen } = run(opt);
    assertTrajectory(after, expected(adamwRule(0.01, 0.5)), 'adamw');
    assert.deepEqual(Array.from(frozen.value), [0.5, 1.5], 'non-trainable weights (moving statistics) are not decayed');
    // the decay is visible: w = −1 shrinks by 0.005 a step on top of Adam's ±0.01
    assert.ok(maxRelDiff(after, expected(adamRule(0.01, 0.9, 0.999, 1e-7))) > 1e-3, 'must differ from Adam');
    // an L2 term in the loss (g + wd·w) is divided by √v with the gradient: a different trajectory
    const l2: Rule = (w, g, t, s) => adamRule(0.01, 0.9, 0.999, 1e-7)(w, g + 0.5 * w, t, s);
    assert.ok(maxRelDiff(after, expected(l2)) > 1e-3, 'must differ from Adam with L2 in the gradient');
  });

  test('hand-checked first step: w = −1, g = 2, lr 0.01, wd 0.5 → −1·(1 − 0.005) − 0.01·2/(2 + ε/√0.001)', () => {
    const { after } = run(new AdamW({ learningRate: 0.01, weightDecay: 0.5 }), [-1], [[2]]);
    assertRel(after[0][0], -0.995 - (0.01 * 2) / (2 + 1e-7 / Math.sqrt(0.001)), REL, 'adamw step 1');
  });

  test("Keras defaults: weight decay 0.004 on top of Adam's; weight_decay in the saved config", () => {
    const o = makeOptimizer('adamw');
    assert.ok(o instanceof AdamW);
    assert.equal(o.className, 'AdamW');
    assert.deepEqual(o.getConfig(), { learning_rate: 1e-3, beta_1: 0.9, beta_2: 0.999, epsilon: 1e-7, weight_decay: 0.004 });
    assertTrajectory(run(makeOptimizer('AdamW', { weightDecay: 0.004 })).after, expected(adamwRule(1e-3, 0.004)), 'adamw defaults');
  });
});

describe('optimizers: Keras defaults', () => {
  test('SGD: learning rate 0.01, momentum 0, no Nesterov', () => {
    const o = new SGD();
    assert.equal(o.learningRate, 0.01);
    assert.equal(o.momentum, 0);
    assert.equal(o.nesterov, false);
    assert.deepEqual(o.getConfig(), { learning_rate: 0.01, momentum: 0, nesterov: false });
    assertTrajectory(run(new SGD()).after, expected(sgdRule(0.01)), 'sgd defaults');
  });

  test('RMSprop: learning rate 1e-3, ρ 0.9, ε 1e-7', () => {
    const o = new RMSprop();
    assert.deepEqual([o.learningRate, o.rho, o.epsilon], [1e-3, 0.9, 1e-7]);
    assert.deepEqual(o.getConfig(), { learning_rate: 1e-3, rho: 0.9, epsilon: 1e-7 });
    assertTrajectory(run(new RMSprop()).after, expected(rmspropRule(1e-3, 0.9, 1e-7)), 'rmsprop defaults');
  });

  test('Adam: learning rate 1e-3, β₁ 0.9, β₂ 0.999, ε 1e-7', () => {
    const o = new Adam();
    assert.deepEqual([o.learningRate, o.beta1, o.beta2, o.epsilon], [1e-3, 0.9, 0.999, 1e-7]);
    assert.deepEqual(o.getConfig(), { learning_rate: 1e-3, beta_1: 0.9, beta_2: 0.999, epsilon: 1e-7 });
    assertTrajectory(run(new Adam()).after, expected(adamRule(1e-3, 0.9, 0.999, 1e-7)), 'adam defaults');
  });

  test('makeOptimizer: names are case-insensitive, config is passed through, unknown names are refused', () => {
    assert.ok(makeOptimizer('SGD') instanceof SGD);
    assert.ok(makeOptimizer('rmsprop') instanceof RMSprop);
    const a = makeOptimizer('Adam', { learningRate: 0.5, beta1: 0.8 });
    assert.ok(a instanceof Adam);
    assert.deepEqual([a.learningRate, (a as Adam).beta1, (a as Adam).beta2], [0.5, 0.8, 0.999]);
    assert.throws(() => makeOptimizer('adagrad'), UsageError);
  });
});
