// A short real-data training run: the whole stack (data, layers, optimizer, fit) has to learn.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadDataset, toTensor } from '../src/data/mnist';
import { getPreset } from '../src/zoo/presets';
import { SHARED_MNIST } from './helpers/paths';
import { applyRecipePrecision } from '../src/zoo/recipe';
import { getKernels, setPrecision } from '../src/kernels';

test('seed002-mlp learns MNIST: ≥ 90% test accuracy after 3 epochs on 6,000 digits', () => {
  const ds = loadDataset(SHARED_MNIST);
  const n = 6000;
  const tr = toTensor(
    ds.train,
    ds.height,
    ds.width,
    ds.classes,
    Array.from({ length: n }, (_v, i) => i),
  );
  const te = toTensor(ds.test, ds.height, ds.width, ds.classes);
  const p = getPreset('seed002-mlp');
  const model = p.build();
  model.compile({ optimizer: p.recipe.optimizer, loss: p.recipe.loss });
  const h = model.fit(
    { shape: [n, 28, 28, 1], data: tr.x },
    { shape: [n, 10], data: tr.y },
    { batchSize: 128, epochs: 3, validationSplit: 0.1, seed: 1, verbose: 0 },
  );
  assert.deepEqual(Object.keys(h.history).sort(), ['accuracy', 'loss', 'val_accuracy', 'val_loss']);
  assert.ok(h.history.loss[2] < h.history.loss[0], `loss fell: ${h.history.loss}`);
  const r = model.evaluate({ shape: [10000, 28, 28, 1], data: te.x }, { shape: [10000, 10], data: te.y });
  assert.ok(r.accuracy >= 0.9, `test accuracy ${r.accuracy}`);
});

test('a recipe that asks for bf16 gets it only where the native core has it, and --precision wins', () => {
  const r = getPreset('digits-best').recipe;
  assert.equal(r.precision, 'bf16');
  const warnings: string[] = [];
  const warn = (s: string) => {
    warnings.push(s);
  };
  try {
    assert.equal(applyRecipePrecision(r, 'fp32', warn), 'fp32');
    assert.equal(applyRecipePrecision(getPreset('seed002-cnn').recipe, undefined, warn), 'fp32');
    assert.deepEqual(warnings, []);
    const got = applyRecipePrecision(r, undefined, warn);
    let capable = getKernels().name === 'native';
    if (capable) {
      try {
        setPrecision('bf16');
      } catch {
        capable = false;
      }
    }
    assert.equal(got, capable ? 'bf16' : 'fp32');
    assert.equal(warnings.length, capable ? 0 : 1);
    if (!capable)
      assert.match(warnings[0], /^digits: the recipe trains in bf16, which this machine cannot \(.+\); training in fp32, slower\n$/);
  } finally {
    setPrecision('fp32');
  }
});
