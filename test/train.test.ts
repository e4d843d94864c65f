// A short real-data training run: the whole stack (data, layers, optimizer, fit) has to learn.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadDataset, toTensor } from '../src/data/mnist';
import { getPreset } from '../src/zoo/presets';
import { SHARED_MNIST } from './helpers/paths';

test('seed002-mlp learns MNIST: ≥ 90% test accuracy after 3 epochs on 6,000 digits', () => {
  const ds = loadDataset(SHARED_MNIST);
  const n = 6000;
  const tr = toTensor(ds.train, ds.height, ds.width, ds.classes, Array.from({ length: n }, (_v, i) => i));
  const te = toTensor(ds.test, ds.height, ds.width, ds.classes);
  const p = getPreset('seed002-mlp');
  const model = p.build();
  model.compile({ optimizer: p.recipe.optimizer, loss: p.recipe.loss });
  const h = model.fit({ shape: [n, 28, 28, 1], data: tr.x }, { shape: [n, 10], data: tr.y },
    { batchSize: 128, epochs: 3, validationSplit: 0.1, seed: 1, verbose: 0 });
  assert.deepEqual(Object.keys(h.history).sort(), ['accuracy', 'loss', 'val_accuracy', 'val_loss']);
  assert.ok(h.history.loss[2] < h.history.loss[0], `loss fell: ${h.history.loss}`);
  const r = model.evaluate({ shape: [10000, 28, 28, 1], data: te.x }, { shape: [10000, 10], data: te.y });
  assert.ok(r.accuracy >= 0.9, `test accuracy ${r.accuracy}`);
});
