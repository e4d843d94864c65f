// `digits predict <modelDir> <image...>`: users' own pictures through MNIST's normalisation, then the
// model. A file that cannot be read is reported on its own line and the others still run.
import * as fs from 'node:fs';
import type { Sequential } from '../model/sequential';
import { digitsPng, imageToDigits, readImageFile } from '../data/image';
import { checkDigitModel, classify, type Prediction } from '../serve/predict';
import { DigitsError } from '../errors';

type Out = { stdout: (s: string) => void; stderr: (s: string) => void };

export interface ImagePredictOptions { json?: boolean; show?: string; row?: boolean }

const pct = (p: number) => `${(p * 100).toFixed(2).padStart(6)}%`;

/** Write the 28×28 inputs (several side by side, ×8) to `file`. */
export async function writeShow(file: string, digits: Float32Array[]): Promise<void> {
  try {
    fs.writeFileSync(file, await digitsPng(digits));
  } catch (e) {
    throw new DigitsError(`${file}: cannot write --show image (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

export async function predictImages(model: Sequential, modelDir: string, files: string[], o: ImagePredictOptions, out: Out): Promise<void> {
  checkDigitModel(model, modelDir);
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
