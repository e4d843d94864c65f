// The runs behind docs/guide.md §9: one cold process per variant (as `digits speedrun` is), bf16 where
// the CPU has it, one-cycle Adam. Prints test accuracy and training seconds.
// Run: node dist/bench/speedrun-variants.js VARIANT [seed] [peakLr] [batch] [epochs]
//   VARIANT: plain | dense | bn-before-pool | bn-after-pool (the recipe) | strided
import { BatchNormalization, Conv2D, Dense, Flatten, MaxPooling2D } from '../src/layers';
import type { Layer } from '../src/layers/layer';
import { Sequential } from '../src/model/sequential';
import { loadPresetData } from '../src/zoo/recipe';
import { Adam } from '../src/train/optimizers';
import { OneCycle } from '../src/train/callbacks';
import { setPrecision } from '../src/kernels';
import { speedrunModel } from '../src/cli/speedrun';

const conv = (filters: number, first = false) => new Conv2D({ filters, kernelSize: 3, activation: 'relu', ...(first ? { inputShape: [28, 28, 1] } : {}) });
const pool = () => new MaxPooling2D({ poolSize: 2 });
const bn = () => new BatchNormalization({ momentum: 0.9 });
const head = (hidden: boolean): Layer[] => [new Flatten(), ...(hidden ? [new Dense({ units: 128, activation: 'relu' })] : []), new Dense({ units: 10, activation: 'softmax' })];
const VARIANTS: Record<string, () => Layer[]> = {
  plain: () => [conv(32, true), pool(), conv(64), pool(), ...head(false)],
  dense: () => [conv(32, true), pool(), conv(64), pool(), ...head(true)],
  'bn-before-pool': () => [conv(32, true), bn(), pool(), conv(64), bn(), pool(), ...head(true)],
  'bn-after-pool': () => speedrunModel(0).layers, // the recipe's own net
  strided: () => [new Conv2D({ filters: 32, kernelSize: 5, strides: 2, activation: 'relu', inputShape: [28, 28, 1] }), conv(64), pool(), ...head(true)],
};

const [variant = 'bn-after-pool', seedArg = '0', lrArg = '6e-3', batchArg = '128', epochsArg = '1'] = process.argv.slice(2);
if (!VARIANTS[variant]) { process.stderr.write(`speedrun-variants: unknown variant '${variant}' (${Object.keys(VARIANTS).join(', ')})\n`); process.exit(2); }
const seed = Number(seedArg), lr = Number(lrArg), batchSize = Number(batchArg), epochs = Number(epochsArg);
try { setPrecision('bf16'); } catch { /* fp32 where the CPU has no native bf16 */ }
const d = loadPresetData(process.env.DIGITS_DATA ?? '../shared/mnist');
const model = new Sequential({ seed, layers: VARIANTS[variant]() });
model.compile({ optimizer: new Adam({ learningRate: lr }), loss: 'categorical_crossentropy' });
const t0 = performance.now();
model.fit(d.train, d.trainLabels, { batchSize, epochs, seed, verbose: 0, callbacks: [new OneCycle({ maxLr: lr, pctStart: 0.25, divFactor: 10, finalDivFactor: 100 })] });
const train = (performance.now() - t0) / 1000;
const test = model.evaluate(d.test, d.testLabels, { batchSize: 1000 });
console.log(`${variant} seed ${seed} peak lr ${lr} batch ${batchSize} epochs ${epochs}: ${(test.accuracy * 100).toFixed(2)}% test accuracy, train ${train.toFixed(2)} s`);
