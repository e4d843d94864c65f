// Label smoothing (Keras' CategoricalCrossentropy(label_smoothing=ε)): the loss and its gradient
// see t·(1 − ε) + ε/K, in training and in evaluate; it survives save/load; bad settings are refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Sequential, Dense } from '../src/index';
import { saveModel, loadModel } from '../src/io/tfjs';
import { UsageError } from '../src/errors';
import { tempDir } from './helpers/datafixtures';

const K = 4;
const bias = [0.5, -1, 2, 0];
const labels = [2, 0, 3];

/** A softmax over its bias alone: the input is all zeros, so the probabilities are known in closed form. */
function model(ls: number): Sequential {
  const m = new Sequential({ seed: 1, layers: [new Dense({ units: K, activation: 'softmax', inputShape: [3] })] });
  m.compile({ optimizer: 'sgd', optimizerConfig: { learningRate: 1 }, loss: 'categorical_crossentropy', labelSmoothing: ls });
  m.setWeights([new Float32Array(3 * K), Float32Array.from(bias)]);
  return m;
}
const softmax = (z: number[]) => {
  const e = z.map(Math.exp),
    s = e.reduce((a, b) => a + b);
  return e.map((v) => v / s);
};
const x = { shape: [labels.length, 3], data: new Float32Array(labels.length * 3) };
const y = {
  shape: [labels.length, K],
  data: Float32Array.from(labels.flatMap((l) => Array.from({ length: K }, (_v, j) => (j === l ? 1 : 0)))),
};

test('evaluate: the loss is the cross-entropy against t·(1 − ε) + ε/K', () => {
  const p = softmax(bias);
  for (const ls of [0, 0.1, 0.3]) {
    const want =
      labels.reduce((s, l) => s - p.reduce((a, pj, j) => a + ((j === l ? 1 : 0) * (1 - ls) + ls / K) * Math.log(pj), 0), 0) / labels.length;
    const got = model(ls).evaluate(x, y);
    assert.ok(Math.abs(got.loss - want) < 1e-6, `ε ${ls}: ${got.loss} vs ${want}`);
    assert.equal(got.accuracy, 1 / 3, 'accuracy still compares arg-maxes with the hard labels');
  }
});

test('training: SGD at rate 1 moves the bias by the batch mean of p − smoothed t', () => {
  const p = softmax(bias),
    ls = 0.2;
  const m = model(ls);
  m.trainOnBatch(x.data, y.data, labels.length);
  const after = m.getWeights()[1];
  for (let j = 0; j < K; j++) {
    const g = labels.reduce((s, l) => s + p[j] - ((j === l ? 1 : 0) * (1 - ls) + ls / K), 0) / labels.length;
    assert.ok(Math.abs(after[j] - (bias[j] - g)) < 1e-6, `bias ${j}: ${after[j]} vs ${bias[j] - g}`);
  }
});

test('save/load keeps the smoothing; bad values and other losses are refused', () => {
  const dir = path.join(tempDir('digits-ls-'), 'm');
  saveModel(model(0.1), dir);
  assert.equal(JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8')).trainingConfig.label_smoothing, 0.1);
  assert.equal(loadModel(dir).model.labelSmoothing, 0.1);
  saveModel(model(0), dir);
  assert.equal(JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8')).trainingConfig.label_smoothing, undefined);
  const m = new Sequential({ layers: [new Dense({ units: K, activation: 'softmax', inputShape: [3] })] });
  assert.throws(() => m.compile({ optimizer: 'sgd', loss: 'categorical_crossentropy', labelSmoothing: 1 }), UsageError);
  assert.throws(() => m.compile({ optimizer: 'sgd', loss: 'categorical_crossentropy', labelSmoothing: -0.1 }), UsageError);
  assert.throws(
    () => m.compile({ optimizer: 'sgd', loss: 'mean_squared_error', labelSmoothing: 0.1 }),
    /labelSmoothing needs categorical_crossentropy/,
  );
});
