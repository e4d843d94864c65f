// The runs behind docs/guide.md §9: one cold process per variant and run (as `digits speedrun` is),
// bf16 where the CPU has it, a one-cycle schedule. Prints test accuracy and training seconds per seed.
// Run: node dist/bench/speedrun-variants.js VARIANT [--seeds 0,1,2] [--lr 1e-2] [--batch 128] [--epochs 1] [--adam keras|fast]
//   VARIANT: plain | dense | bn-before-pool | bn-after-pool | strided (the earlier 3x3 32/64 nets),
//            small | small-bn2 | wide (a 5x5 16 / 3x3 32 / dense 256 net without batch norm, with it
//            after the second pooling only, and after both pools), recipe (the same at 8 / 16 / 128)
//   --adam keras: Keras' Adam defaults with β1 cycled 0.95-0.85 against the rate (the earlier runs);
//   --adam fast: the recipe's β1 0.7, β2 0.9, not cycled.
import { BatchNormalization, Conv2D, Dense, Flatten, MaxPooling2D } from '../src/layers';
import type { Layer } from '../src/layers/layer';
import { Sequential } from '../src/model/sequential';
import { loadPresetData } from '../src/zoo/recipe';
import { Adam } from '../src/model/optimizers';
import { OneCycle } from '../src/train/callbacks';
import { setPrecision } from '../src/kernels';
import { speedrunModel, speedrunTraining } from '../src/cli/speedrun';

const conv = (filters: number, kernelSize = 3, first = false) =>
  new Conv2D({ filters, kernelSize, activation: 'relu', ...(first ? { inputShape: [28, 28, 1] } : {}) });
const pool = () => new MaxPooling2D({ poolSize: 2 });
const bn = () => new BatchNormalization({ momentum: 0.9 });
const head = (hidden: number): Layer[] => [
  new Flatten(),
  ...(hidden ? [new Dense({ units: hidden, activation: 'relu' })] : []),
  new Dense({ units: 10, activation: 'softmax' }),
];
const VARIANTS: Record<string, (seed: number) => Layer[]> = {
  plain: () => [conv(32, 3, true), pool(), conv(64), pool(), ...head(0)],
  dense: () => [conv(32, 3, true), pool(), conv(64), pool(), ...head(128)],
  'bn-before-pool': () => [conv(32, 3, true), bn(), pool(), conv(64), bn(), pool(), ...head(128)],
  'bn-after-pool': () => [conv(32, 3, true), pool(), bn(), conv(64), pool(), bn(), ...head(128)],
  strided: () => [
    new Conv2D({ filters: 32, kernelSize: 5, strides: 2, activation: 'relu', inputShape: [28, 28, 1] }),
    conv(64),
    pool(),
    ...head(128),
  ],
  small: () => [conv(16, 5, true), pool(), conv(32), pool(), ...head(256)],
  'small-bn2': () => [conv(16, 5, true), pool(), conv(32), pool(), bn(), ...head(256)],
  wide: (seed) => speedrunModel(seed, [16, 32, 256]).layers,
  recipe: (seed) => speedrunModel(seed).layers,
};

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const variant = args[0] ?? 'recipe';
if (!VARIANTS[variant]) {
  process.stderr.write(`speedrun-variants: unknown variant '${variant}' (${Object.keys(VARIANTS).join(', ')})\n`);
  process.exit(2);
}
const seeds = opt('--seeds', '0').split(',').map(Number);
const lr = Number(opt('--lr', '1e-2')),
  batchSize = Number(opt('--batch', '128')),
  epochs = Number(opt('--epochs', '1'));
const adam = opt('--adam', 'fast');
if (adam !== 'fast' && adam !== 'keras') {
  process.stderr.write(`speedrun-variants: --adam must be fast or keras, got '${adam}'\n`);
  process.exit(2);
}
try {
  setPrecision('bf16');
} catch {
  /* fp32 where the CPU has no native bf16 */
}
const d = loadPresetData(process.env.DIGITS_DATA ?? '../shared/mnist');
for (const seed of seeds) {
  const model = new Sequential({ seed, layers: VARIANTS[variant](seed) });
  const { optimizer, schedule } =
    adam === 'fast'
      ? speedrunTraining(lr)
      : {
          optimizer: new Adam({ learningRate: lr }),
          schedule: new OneCycle({ maxLr: lr, pctStart: 0.25, divFactor: 10, finalDivFactor: 100 }),
        };
  model.compile({ optimizer, loss: 'categorical_crossentropy' });
  const t0 = performance.now();
  model.fit(d.train, d.trainLabels, { batchSize, epochs, seed, verbose: 0, callbacks: [schedule] });
  const train = (performance.now() - t0) / 1000;
  const test = model.evaluate(d.test, d.testLabels, { batchSize: 1000 });
  console.log(
    `${variant} seed ${seed} peak lr ${lr} batch ${batchSize} epochs ${epochs} adam ${adam}: ${(test.accuracy * 100).toFixed(2)}% test accuracy, train ${train.toFixed(2)} s`,
  );
}
