// The flat-paper path against the full paper estimate, on pen drawings of MNIST test digits of eight kinds
// (canvas and digit sizes, pen widths, dark on white and light on black, cubic-upscaled MNIST as the load
// bench sends it): how many each path reads right with a model, and how many the two read alike.
//   node dist/bench/flat-paper.js [modelDir (default models/digits-real)] [--n 150] [--data DIR]
import * as path from 'node:path';
import { loadDataset } from '../src/data/mnist';
import { preprocess, type Picture } from '../src/data/preprocess';
import { resize } from '../src/data/resample';
import { loadModelFile } from '../src/io/model-file';
import { classify } from '../src/serve/predict';
import { drawable, penDrawing } from '../test/helpers/renders';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const n = Number(opt('--n', '150'));
const dataDir = opt('--data', path.resolve(__dirname, '../../../shared/mnist'));
const modelDir =
  args.find((a, i) => !a.startsWith('--') && !(i > 0 && args[i - 1].startsWith('--'))) ??
  path.resolve(__dirname, '../../models/digits-real');

// [name, canvas W, H, digit height, pen width, light ink on black]; null: MNIST upscaled 10× (cubic-like)
const KINDS: [string, [number, number, number, number, boolean] | null][] = [
  ['MNIST ×10, 280×280', null],
  ['pen 280×280, digit 200, pen 25', [280, 280, 200, 25, false]],
  ['pen 480×360, digit 160, pen 14', [480, 360, 160, 14, false]],
  ['pen 400×400, digit 150, pen 40', [400, 400, 150, 40, false]],
  ['pen 600×600, digit 300, pen 8', [600, 600, 300, 8, false]],
  ['light on black 300×300, pen 20', [300, 300, 220, 20, true]],
  ['wide 1000×400, digit 100, pen 8', [1000, 400, 100, 8, false]],
  ['tiny 100×100, digit 60, pen 5', [100, 100, 60, 5, false]],
];

async function main(): Promise<void> {
  const ds = loadDataset(dataDir);
  const { model } = await loadModelFile(modelDir);
  const digit = (i: number) => ds.test.images.subarray(i * 784, (i + 1) * 784);
  let agreeAll = 0,
    totalAll = 0;
  for (const [name, kind] of KINDS) {
    let fast = 0,
      full = 0,
      agree = 0,
      count = 0;
    for (let i = 0; count < n; i++) {
      if (kind && !drawable(digit(i))) continue;
      count++;
      let pic: Picture;
      if (!kind) {
        const up = resize(Float32Array.from(digit(i)), 28, 28, 280, 280);
        pic = { width: 280, height: 280, data: Uint8ClampedArray.from(up, (v) => 255 - v) };
      } else {
        const [W, H, tall, width, light] = kind;
        const cov = penDrawing(digit(i), W, H, { tall, cx: W / 2, cy: H / 2, width });
        pic = {
          width: W,
          height: H,
          data: Uint8ClampedArray.from(cov, (c) => (light ? 255 * Math.min(1, c) : 255 - 255 * Math.min(1, c))),
        };
      }
      const [a, b] = classify(model, [preprocess(pic), preprocess(pic, { flatPaper: false })]).map((p) => p.top[0].digit);
      if (a === ds.test.labels[i]) fast++;
      if (b === ds.test.labels[i]) full++;
      if (a === b) agree++;
    }
    agreeAll += agree;
    totalAll += count;
    const pct = (k: number) => `${((100 * k) / count).toFixed(1)}%`;
    console.log(
      `${name.padEnd(34)} flat-paper path ${pct(fast).padStart(6)}, full path ${pct(full).padStart(6)}, read alike ${agree}/${count}`,
    );
  }
  console.log(`all kinds: read alike ${agreeAll}/${totalAll} (${path.relative(process.cwd(), modelDir) || modelDir})`);
}

main().catch((e) => {
  console.error(`flat-paper: ${(e as Error).message}`);
  process.exitCode = 1;
});
