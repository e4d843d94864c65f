// What each ingredient of digits-best buys: the full recipe against the same run without
// augmentation, without batch norm, without dropout, with a constant learning rate instead of
// the one-cycle schedule, without label smoothing, with elastic distortion or weight decay added (plus
// seed002-cnn on the same budget as a yardstick). docs/guide.md quotes its output. Shortened on
// purpose (--limit, --epochs), so every variant fits in a few minutes; --limit 60000 --epochs 30
// --bf16 is the real recipe (~13 minutes a run):
//   node dist/bench/ablation.js --data ../shared/mnist --limit 20000 --epochs 4 [--only a,b] [--seeds 1] [--bf16]
import { BatchNormalization, Dropout } from '../src/layers';
import { Sequential } from '../src/model/sequential';
import { getPreset } from '../src/zoo/presets';
import { loadPresetData, recipeAugmenter, recipeCallbacks } from '../src/zoo/recipe';
import { makeOptimizer } from '../src/model/optimizers';
import { getKernels, setPrecision } from '../src/kernels';
import { recipeAugmentation, type ImageDataGenerator } from '../src/train/augment';

const args = process.argv.slice(2);
const opt = (name: string, dflt?: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const limit = Number(opt('--limit', '20000'));
const epochs = Number(opt('--epochs', '4'));
const seeds = Number(opt('--seeds', '1'));
const d = loadPresetData(opt('--data'), limit);
if (args.includes('--bf16')) setPrecision('bf16');
const best = getPreset('digits-best');
const ls = best.recipe.labelSmoothing ?? 0;
const a = best.recipe.augmentation!;
const elastic = (alpha: number) => recipeAugmentation({ ...a, elastic: { alpha, spacing: 6 } }).augmenter([28, 28, 1]);

interface Variant {
  name: string;
  model: (seed: number) => Sequential;
  augment: boolean;
  schedule: boolean;
  optimizer?: string;
  lr?: number;
  batchSize?: number;
  labelSmoothing?: number;
  weightDecay?: number;
  augmenter?: ReturnType<ImageDataGenerator['augmenter']>;
}
const without = (drop: (l: unknown) => boolean) => (seed: number) =>
  new Sequential({ seed, layers: best.build(undefined, undefined, seed).layers.filter((l) => !drop(l)) });
const variants: Variant[] = [
  {
    name: 'digits-best (augmentation + BN + dropout + one-cycle + label smoothing)',
    model: (s) => best.build(undefined, undefined, s),
    augment: true,
    schedule: true,
  },
  { name: 'without augmentation', model: (s) => best.build(undefined, undefined, s), augment: false, schedule: true },
  { name: 'without batch norm', model: without((l) => l instanceof BatchNormalization), augment: true, schedule: true },
  { name: 'without dropout', model: without((l) => l instanceof Dropout), augment: true, schedule: true },
  {
    name: 'constant lr 1e-3 (Adam default) instead of one-cycle',
    model: (s) => best.build(undefined, undefined, s),
    augment: true,
    schedule: false,
    lr: 1e-3,
  },
  {
    name: 'seed002-cnn recipe (RMSprop 1e-3, batch 64), same epochs',
    model: (s) => getPreset('seed002-cnn').build(undefined, undefined, s),
    augment: false,
    schedule: false,
    optimizer: 'rmsprop',
    lr: 1e-3,
    batchSize: 64,
    labelSmoothing: 0,
  },
  { name: 'without label smoothing', model: (s) => best.build(undefined, undefined, s), augment: true, schedule: true, labelSmoothing: 0 },
  {
    name: 'without label smoothing, plus elastic distortion ±2 px every 6 px',
    model: (s) => best.build(undefined, undefined, s),
    augment: true,
    schedule: true,
    labelSmoothing: 0,
    augmenter: elastic(2),
  },
  {
    name: 'without label smoothing, plus elastic distortion ±1 px every 6 px',
    model: (s) => best.build(undefined, undefined, s),
    augment: true,
    schedule: true,
    labelSmoothing: 0,
    augmenter: elastic(1),
  },
  {
    name: 'plus weight decay 0.05 (AdamW)',
    model: (s) => best.build(undefined, undefined, s),
    augment: true,
    schedule: true,
    optimizer: 'adamw',
    weightDecay: 0.05,
  },
];
const only = opt('--only')?.split(',').map(Number);

console.log(
  `ablation: ${limit} training images, ${epochs} epochs, ${seeds} seed(s), ${getKernels().name} backend; test on all ${d.testClasses.length}`,
);
for (const [i, v] of variants.entries()) {
  if (only && !only.includes(i)) continue;
  const accs: number[] = [];
  let seconds = 0;
  for (let seed = 0; seed < seeds; seed++) {
    const m = v.model(seed);
    const lr = v.lr ?? best.recipe.learningRate;
    m.compile({
      optimizer: makeOptimizer(v.optimizer ?? best.recipe.optimizer, { learningRate: lr, weightDecay: v.weightDecay }),
      loss: 'categorical_crossentropy',
      labelSmoothing: v.labelSmoothing ?? ls,
    });
    const t0 = Date.now();
    m.fit(d.train, d.trainLabels, {
      epochs,
      batchSize: v.batchSize ?? best.recipe.batchSize,
      seed,
      verbose: 0,
      callbacks: v.schedule ? recipeCallbacks(best.recipe, { validationSplit: 0, learningRate: lr }) : [],
      augment: v.augment ? (v.augmenter ?? recipeAugmenter(best.recipe, [28, 28, 1])) : undefined,
    });
    seconds += (Date.now() - t0) / 1000;
    accs.push(m.evaluate(d.test, d.testLabels).accuracy);
  }
  accs.sort((a, b) => a - b);
  const median = accs[Math.floor((accs.length - 1) / 2)];
  console.log(JSON.stringify({ variant: v.name, median, accuracies: accs, seconds: Math.round(seconds) }));
}
