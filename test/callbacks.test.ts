// Keras' callbacks, behaviour for behaviour: when EarlyStopping stops and what it restores,
// when ReduceLROnPlateau lowers the rate (patience, min_delta, cooldown, min_lr), and what
// LearningRateScheduler sets at each epoch — against the sequences Keras' own code produces.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { EarlyStopping, LearningRateScheduler, ReduceLROnPlateau } from '../src/train/callbacks';
import { Sequential, Dense, Flatten } from '../src/index';

function tiny(): Sequential {
  const m = new Sequential({ seed: 1, layers: [new Flatten({ inputShape: [2, 2, 1] }), new Dense({ units: 2, activation: 'softmax' })] });
  m.compile({ optimizer: 'sgd', optimizerConfig: { learningRate: 0.1 }, loss: 'categorical_crossentropy' });
  return m;
}

/** Feeds a callback one monitored value per epoch; returns the epochs run and the rate after each. */
function drive(cb: EarlyStopping | ReduceLROnPlateau, values: number[], key = 'val_loss') {
  const m = tiny();
  cb.setModel(m);
  const rates: number[] = [];
  let epoch = 0;
  for (; epoch < values.length && !m.stopTraining; epoch++) {
    m.getWeights()[0].fill(epoch + 1);
    cb.onEpochEnd(epoch, { loss: 0, [key]: values[epoch] });
    rates.push(m.optimizer.learningRate);
  }
  return { epochs: epoch, rates, model: m };
}

describe('EarlyStopping', () => {
  test('stops after `patience` epochs without improvement (Keras: wait += 1; wait >= patience)', () => {
    assert.equal(drive(new EarlyStopping({ patience: 2 }), [1, 0.9, 0.95, 0.96, 0.5]).epochs, 4);
    assert.equal(drive(new EarlyStopping({ patience: 0 }), [1, 1.1, 0.5]).epochs, 2);
  });
  test('min_delta: an improvement smaller than it counts as none', () => {
    assert.equal(drive(new EarlyStopping({ patience: 1, minDelta: 0.1 }), [1, 0.95, 0.9, 0.5]).epochs, 2);
  });
  test("restore_best_weights puts back the best epoch's weights when it stops, not otherwise", () => {
    const stopped = drive(new EarlyStopping({ patience: 1, restoreBestWeights: true }), [1, 0.5, 0.7, 0.8]);
    assert.equal(stopped.model.getWeights()[0][0], 2);
    const ran = drive(new EarlyStopping({ patience: 5, restoreBestWeights: true }), [1, 0.5, 0.7]);
    assert.equal(ran.epochs, 3);
    assert.equal(ran.model.getWeights()[0][0], 3, 'Keras 2.4 restores only when it stops');
  });
  test('accuracy is maximised in auto mode', () => {
    assert.equal(drive(new EarlyStopping({ monitor: 'val_accuracy', patience: 1 }), [0.9, 0.95, 0.94, 0.99], 'val_accuracy').epochs, 3);
  });
});

describe('ReduceLROnPlateau', () => {
  test('multiplies the rate by factor after `patience` epochs without improvement, and waits again', () => {
    const { rates } = drive(new ReduceLROnPlateau({ factor: 0.5, patience: 2, minDelta: 0 }), [1, 1, 1, 1, 1, 0.5, 0.5, 0.5]);
    assert.deepEqual(
      rates.map((r) => +r.toFixed(6)),
      [0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.025, 0.0125],
    );
  });
  test('cooldown: no reduction for `cooldown` epochs after one, and the wait restarts', () => {
    const { rates } = drive(new ReduceLROnPlateau({ factor: 0.5, patience: 1, cooldown: 2, minDelta: 0 }), [1, 1, 1, 1, 1, 1]);
    // Keras: the epoch a cooldown ends may already count towards the next reduction
    assert.deepEqual(
      rates.map((r) => +r.toFixed(6)),
      [0.1, 0.05, 0.05, 0.025, 0.025, 0.0125],
    );
  });
  test('never below min_lr; logs the rate', () => {
    const cb = new ReduceLROnPlateau({ factor: 0.1, patience: 1, minLr: 0.005, minDelta: 0 });
    const { rates } = drive(cb, [1, 1, 1, 1]);
    assert.deepEqual(
      rates.map((r) => +r.toFixed(6)),
      [0.1, 0.01, 0.005, 0.005],
    );
    const logs: Record<string, number> = { val_loss: 1 };
    cb.onEpochEnd(9, logs);
    assert.equal(logs.lr, 0.005);
  });
});

describe('LearningRateScheduler', () => {
  test('sets schedule(epoch, rate) at each epoch start, as Keras does, and fit() records it', () => {
    const m = tiny();
    const seen: [number, number][] = [];
    const sched = new LearningRateScheduler((epoch, lr) => {
      seen.push([epoch, lr]);
      return epoch < 2 ? 0.1 : lr * 0.5;
    });
    const x = { shape: [4, 2, 2, 1], data: new Float32Array(16).fill(0.5) };
    const y = { shape: [4, 2], data: Float32Array.from([1, 0, 0, 1, 1, 0, 0, 1]) };
    m.fit(x, y, { epochs: 4, batchSize: 2, verbose: 0, callbacks: [sched] });
    assert.deepEqual(
      seen.map(([e, lr]) => [e, +lr.toFixed(6)]),
      [
        [0, 0.1],
        [1, 0.1],
        [2, 0.1],
        [3, 0.05],
      ],
    );
    assert.equal(+m.optimizer.learningRate.toFixed(6), 0.025);
  });
});
