// Augmentation throughput (images/s, one thread) against the native core's training throughput, to
// show the augment hook cannot starve training: it runs on the main thread between batches, so its
// cost adds to every step. Run: node dist/bench/augment.js [--data DIR] [--train]
// (--train also times a short seed000-kaggle fit with and without augmentation.)
import { ImageDataGenerator } from '../src/train/augment';
import { Rng } from '../src/rng';
import { loadDataset, resolveDataDir, toTensor } from '../src/data/mnist';
import { getPreset } from '../src/zoo/presets';
import { makeOptimizer } from '../src/model/optimizers';
import { getKernels } from '../src/kernels';

const args = process.argv.slice(2);
const dataArg = args.includes('--data') ? args[args.indexOf('--data') + 1] : undefined;

function imagesPerSecond(gen: ImageDataGenerator, x: Float32Array, n: number, batch: number, budgetMs: number): number {
  const hook = gen.augmenter([28, 28, 1]);
  const rng = new Rng(1);
  const buf = new Float32Array(batch * 784);
  let done = 0,
    start = 0;
  hook(buf, batch, rng); // warm-up: lets V8 optimise the inner loop before timing
  const t0 = process.hrtime.bigint();
  let ms = 0;
  while (ms < budgetMs) {
    if (start + batch > n) start = 0;
    buf.set(x.subarray(start * 784, (start + batch) * 784));
    hook(buf, batch, rng);
    done += batch;
    start += batch;
    ms = Number(process.hrtime.bigint() - t0) / 1e6;
  }
  return (done / ms) * 1000;
}

let x: Float32Array, y: Float32Array, n: number;
try {
  const ds = loadDataset(resolveDataDir(dataArg));
  const t = toTensor(ds.train, 28, 28, 10);
  x = t.x;
  y = t.y;
  n = ds.train.count;
} catch {
  // no MNIST at hand: random images cost the same to warp
  n = 4096;
  x = new Float32Array(n * 784);
  y = new Float32Array(n * 10);
  const r = new Rng(2);
  for (let i = 0; i < x.length; i++) x[i] = r.next();
}

const configs: [string, ImageDataGenerator][] = [
  [
    'seed000 recipe (rot 10, zoom 0.1, shift 0.1), bilinear',
    new ImageDataGenerator({ rotationRange: 10, zoomRange: 0.1, widthShiftRange: 0.1, heightShiftRange: 0.1 }),
  ],
  [
    'seed000 recipe, nearest sampling',
    new ImageDataGenerator({ rotationRange: 10, zoomRange: 0.1, widthShiftRange: 0.1, heightShiftRange: 0.1, interpolation: 'nearest' }),
  ],
  [
    'digits-best recipe (rot 8, zoom 0.08, shift 0.08)',
    new ImageDataGenerator({ rotationRange: 8, zoomRange: 0.08, widthShiftRange: 0.08, heightShiftRange: 0.08 }),
  ],
  [
    'the same + elastic (±1.5 px every 6 px)',
    new ImageDataGenerator({
      rotationRange: 8,
      zoomRange: 0.08,
      widthShiftRange: 0.08,
      heightShiftRange: 0.08,
      elastic: { alpha: 1.5, spacing: 6 },
    }),
  ],
];
console.log(`augmentation, 28x28x1, batch 128, one thread (${n} source images)`);
for (const [name, gen] of configs) {
  const ips = imagesPerSecond(gen, x, n, 128, 2000);
  console.log(`  ${name.padEnd(56)} ${Math.round(ips).toLocaleString('en-US').padStart(9)} images/s  (${(1e6 / ips).toFixed(1)} µs/image)`);
}

if (args.includes('--train')) {
  // a short real fit, so the comparison is against this machine's training speed, not a guess
  const p = getPreset('seed000-kaggle');
  const m = 2580;
  const gen = configs[0][1];
  for (const aug of [false, true]) {
    const model = p.build();
    model.compile({ optimizer: makeOptimizer('rmsprop', { learningRate: 1e-3 }), loss: 'categorical_crossentropy' });
    const t0 = process.hrtime.bigint();
    model.fit(
      { shape: [m, 28, 28, 1], data: x.subarray(0, m * 784) },
      { shape: [m, 10], data: y.subarray(0, m * 10) },
      { batchSize: 86, epochs: 1, verbose: 0, augment: aug ? gen.augmenter([28, 28, 1]) : undefined },
    );
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    console.log(
      `seed000-kaggle fit, ${getKernels().name} backend, ${aug ? 'with' : 'without'} augmentation: ${Math.round(m / s)} samples/s`,
    );
  }
}
