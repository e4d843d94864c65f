// A small trained model for the tests that need real predictions (image pipeline, browser page):
// seed002-cnn, one epoch on the first 20,000 training digits (~95-97% on the test set, ~10 s on the
// native core). Trained once and kept in the temp dir, so the suites after the first reuse it.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { getPreset } from '../../src/zoo/presets';
import { loadDataset, toTensor } from '../../src/data/mnist';
import { loadModel, saveModel } from '../../src/io/tfjs';
import { makeOptimizer } from '../../src/model/optimizers';
import { SHARED_MNIST } from './paths';

const N = 20_000;
const DIR = path.join(os.tmpdir(), `digits-test-seed002-cnn-${N}x1`);

export function trainedModelDir(): string {
  try {
    loadModel(DIR);
    return DIR;
  } catch {
    /* absent or stale: train it */
  }
  const ds = loadDataset(SHARED_MNIST);
  const idx = Array.from({ length: N }, (_v, i) => i);
  const tr = toTensor(ds.train, 28, 28, 10, idx);
  const model = getPreset('seed002-cnn').build([28, 28, 1], 10, 0);
  model.compile({ optimizer: makeOptimizer('rmsprop', { learningRate: 1e-3 }), loss: 'categorical_crossentropy' });
  model.fit({ shape: [N, 28, 28, 1], data: tr.x }, { shape: [N, 10], data: tr.y }, { epochs: 1, batchSize: 64, seed: 0, verbose: 0 });
  const te = toTensor(
    ds.test,
    28,
    28,
    10,
    Array.from({ length: 2000 }, (_v, i) => i),
  );
  const test = model.evaluate({ shape: [2000, 28, 28, 1], data: te.x }, { shape: [2000, 10], data: te.y });
  fs.mkdirSync(path.dirname(DIR), { recursive: true });
  saveModel(model, DIR, { preset: 'seed002-cnn', test });
  return DIR;
}
