// Peak resident memory of a seed000-kaggle training run at batch 128: the real dataset (or, without
// it, a synthetic one of the same size), fit on the first `--batches` batches with the recipe's
// augmentation, then a test-set evaluation. Run in its own process by bench.ts so that the peak is
// this run's alone. Prints one JSON object: { maxRssMiB, batches, data }.
import * as fs from 'node:fs';
import { getPreset } from '../src/zoo/presets';
import { loadPresetData } from '../src/zoo/recipe';
import { recipeAugmenter } from '../src/zoo/recipe';
import { setPrecision, setThreads } from '../src/kernels';
import type { Tensor } from '../src/tensor';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const batches = Number(opt('--batches', '20'));
const bs = Number(opt('--batch-size', '128'));
const precision = opt('--precision', 'fp32') as 'fp32' | 'bf16';
setPrecision(precision);
if (args.includes('--threads')) setThreads(Number(opt('--threads', '2')));

const dir = process.env.DIGITS_DATA ?? '../shared/mnist';
let train: Tensor, labels: Tensor, test: Tensor, testLabels: Tensor, data: string;
if (fs.existsSync(dir)) {
  const d = loadPresetData(dir);
  ({ train, trainLabels: labels, test, testLabels } = d);
  data = dir;
} else {
  const syn = (n: number) => ({ shape: [n, 28, 28, 1], data: new Float32Array(n * 784).fill(0.5) });
  const lab = (n: number) => {
    const t = new Float32Array(n * 10);
    for (let i = 0; i < n; i++) t[i * 10 + (i % 10)] = 1;
    return { shape: [n, 10], data: t };
  };
  train = syn(60000);
  labels = lab(60000);
  test = syn(10000);
  testLabels = lab(10000);
  data = 'synthetic';
}
const preset = getPreset('seed000-kaggle');
const model = preset.build();
model.compile({ optimizer: preset.recipe.optimizer, loss: preset.recipe.loss });
const n = Math.min(batches * bs, train.shape[0]);
const part = (t: Tensor, k: number): Tensor => ({
  shape: [k, ...t.shape.slice(1)],
  data: t.data.subarray(0, k * (t.data.length / t.shape[0])),
});
model.fit(part(train, n), part(labels, n), { batchSize: bs, epochs: 1, verbose: 0, augment: recipeAugmenter(preset.recipe, [28, 28, 1]) });
model.evaluate(test, testLabels);
process.stdout.write(JSON.stringify({ maxRssMiB: process.resourceUsage().maxRSS / 1024, batches, batchSize: bs, precision, data }) + '\n');
