// `digits predict`: users' own pictures (PNG, JPEG, WebP) through MNIST's normalisation, then the model —
// the shipped one unless --model (or a model first, the older form) names another; or a test-set digit
// (--index) as ASCII art. A file that cannot be read is reported on its own line and the others still run.
import * as fs from 'node:fs';
import type { Command } from 'commander';
import type { Sequential } from '../model/sequential';
import { checkDigitModel, classify, type Prediction } from '../serve/predict';
import { loadPresetData } from '../zoo/recipe';
import { sizeOf } from '../tensor';
import { DigitsError, UsageError } from '../errors';
import { loadModelArg, looksLikeModel, modelOptions, shippedModel } from './model-arg';
import { checkModelFits, int, noteTo, type Out } from './common';

export interface ImagePredictOptions {
  json?: boolean;
  show?: string;
  row?: boolean;
}

const pct = (p: number) => `${(p * 100).toFixed(2).padStart(6)}%`;

/** Write the 28×28 inputs (several side by side, ×8) to `file`. */
export async function writeShow(file: string, digits: Float32Array[]): Promise<void> {
  // sharp (libvips) is loaded by the commands that read or write pictures, not by every start of the CLI
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on use
  const { digitsPng } = require('../data/image') as typeof import('../data/image');
  try {
    fs.writeFileSync(file, await digitsPng(digits));
  } catch (e) {
    throw new DigitsError(`${file}: cannot write --show image (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

export async function predictImages(model: Sequential, modelDir: string, files: string[], o: ImagePredictOptions, out: Out): Promise<void> {
  checkDigitModel(model, modelDir);
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on use (sharp)
  const { imageToDigits, readImageFile } = require('../data/image') as typeof import('../data/image');
  const results: Record<string, unknown>[] = [];
  const seen: Float32Array[] = [];
  let failed = 0;
  for (const file of files) {
    let digits: Float32Array[];
    try {
      digits = await imageToDigits(await readImageFile(file), file, o.row);
    } catch (e) {
      if (!(e instanceof DigitsError)) throw e;
      failed++;
      if (o.json) results.push({ file, error: e.message });
      else out.stderr(`digits: ${e.message}\n`);
      continue;
    }
    seen.push(...digits);
    const preds = classify(model, digits);
    const read = preds.map((p) => p.top[0].digit).join('');
    if (o.json) {
      results.push(o.row ? { file, digits: read, predictions: preds } : { file, ...preds[0] });
      continue;
    }
    out.stdout(`${file}: ${read}\n`);
    for (const p of preds) out.stdout(`  ${p.top.map((t: Prediction['top'][number]) => `${t.digit} ${pct(t.probability)}`).join('   ')}\n`);
  }
  if (o.json) out.stdout(JSON.stringify({ results }) + '\n');
  if (o.show && seen.length > 0) await writeShow(o.show, seen);
  if (failed > 0) throw new DigitsError(`${failed} of ${files.length} image${files.length > 1 ? 's' : ''} could not be read`);
}

/** 28x28 (or any size) grayscale as ASCII art, two characters per pixel to keep the aspect ratio. */
export function asciiDigit(pixels: Float32Array, h: number, w: number): string {
  const ramp = ' .:-=+*#%@';
  const rows: string[] = [];
  for (let y = 0; y < h; y++) {
    let line = '';
    for (let x = 0; x < w; x++) {
      const c = ramp[Math.min(ramp.length - 1, Math.floor(pixels[y * w + x] * ramp.length))];
      line += c + c;
    }
    rows.push(line.trimEnd());
  }
  return rows.join('\n');
}

export function registerPredict(program: Command, out: Out): void {
  modelOptions(
    program
      .command('predict [model-or-images...]')
      .description(
        'predict digits in PNG/JPEG/WebP images, or a test-set digit (--index) drawn as ASCII art; top-3 probabilities. The model is the shipped one unless --model (or a model as the first argument, the older form) names another',
      )
      .option('--model <model>', 'the model (directory, model.json, .h5, .keras; default: the shipped model)')
      .option('--index <n>', 'index into the 10,000 test digits', int('--index', 0)),
  )
    .option('--data <dir>', 'MNIST directory')
    .option('--json', 'print one JSON object on stdout')
    .option('--show <out.png>', 'write the 28x28 inputs the network saw as a PNG (several side by side)')
    .option('--row', 'read each image as a row of digits, left to right')
    .action(
      async (
        args: string[],
        o: {
          model?: string;
          index?: number;
          data?: string;
          json?: boolean;
          show?: string;
          row?: boolean;
          weights?: string;
          rawPixels?: boolean;
        },
      ) => {
        // the older form `predict <model> <images…>` (or `<model> --index N`) still works
        const first = !o.model && args.length > 0 && (args.length > 1 || o.index !== undefined) && looksLikeModel(args[0]);
        const dir = o.model ?? (first ? args[0] : shippedModel());
        const images = first ? args.slice(1) : args;
        if ((o.index === undefined) === (images.length === 0))
          throw new UsageError('predict: give image files or --index N (one of the two)');
        const { model } = await loadModelArg(dir, o, noteTo(out));
        if (o.index === undefined) return predictImages(model, dir, images, o, out);
        const d = loadPresetData(o.data, undefined, sizeOf(model.outputShape));
        checkModelFits(model, d, dir);
        if (o.index >= d.test.shape[0])
          throw new UsageError(`--index: the test set has ${d.test.shape[0]} digits (0..${d.test.shape[0] - 1}), got ${o.index}`);
        const size = d.height * d.width;
        const pixels = d.test.data.subarray(o.index * size, (o.index + 1) * size);
        const probs = model.predictProba({ shape: [1, d.height, d.width, 1], data: pixels }).data;
        const top = Array.from(probs, (p, c) => ({ digit: c, probability: p }))
          .sort((a, b) => b.probability - a.probability)
          .slice(0, 3);
        const label = d.testClasses[o.index];
        if (o.show) await writeShow(o.show, [Float32Array.from(pixels)]);
        if (o.json) {
          out.stdout(JSON.stringify({ index: o.index, label, top }) + '\n');
          return;
        }
        out.stdout(asciiDigit(pixels, d.height, d.width) + '\n');
        out.stdout(`test digit #${o.index}, label ${label}\n`);
        for (const t of top) out.stdout(`  ${t.digit}  ${(t.probability * 100).toFixed(2).padStart(6)}%\n`);
      },
    );
}
