// The model argument every command takes: a TF.js directory or model.json, a Keras .h5 or .keras file
// (known by its bytes), or — with --weights — a preset or model file giving the architecture for a
// weights-only file. --raw-pixels marks a model trained on 0–255 pixels.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { PRESETS } from '../zoo/presets';
import { Rescaling } from '../layers';
import { makeOptimizer } from '../model/optimizers';
import { loadArchitecture, loadModelFile, loadWeightsInto, type LoadedFile } from '../io/model-file';
import { DigitsError, UsageError } from '../errors';

export interface ModelArgOptions {
  weights?: string;
  rawPixels?: boolean;
}

/** The model shipped in the package (digits-real, trained by `npm run train:shipped`), used when none is given. */
export const SHIPPED_MODEL = path.resolve(__dirname, '../../../models/digits-real');

export function shippedModel(): string {
  if (!fs.existsSync(path.join(SHIPPED_MODEL, 'model.json')))
    throw new DigitsError(
      `no model given, and the shipped model is missing (${SHIPPED_MODEL}): reinstall digits, run npm run train:shipped, or give a model`,
    );
  return SHIPPED_MODEL;
}

/**
 * Whether a command-line argument names a model rather than an image: a directory, a model file by its
 * extension, or a file whose first bytes are HDF5, zip or JSON (images are PNG, JPEG or WebP).
 */
export function looksLikeModel(arg: string): boolean {
  if (!fs.existsSync(arg)) return PRESETS.some((p) => p.name === arg);
  if (fs.statSync(arg).isDirectory()) return true;
  if (/\.(json|h5|hdf5|keras)$/i.test(arg)) return true;
  const head = Buffer.alloc(8);
  const fd = fs.openSync(arg, 'r');
  try {
    fs.readSync(fd, head, 0, 8, 0);
  } finally {
    fs.closeSync(fd);
  }
  return (
    head.subarray(1, 4).toString('latin1') === 'HDF' ||
    head.subarray(0, 2).toString('latin1') === 'PK' ||
    /^\s*\{/.test(head.toString('latin1'))
  );
}

/** The options every model-taking command shares. */
export function modelOptions(cmd: Command): Command {
  return cmd
    .option(
      '--weights <file>',
      'weights only (Keras *.weights.h5 or save_weights .h5) onto the architecture the model argument gives (a preset name or a model file)',
    )
    .option('--raw-pixels', 'the model was trained on raw 0–255 pixels (not /255): inputs are scaled to match');
}

/** `note` hears what was inferred about the model (printed as `digits: note: …` by the commands). */
export async function loadModelArg(arg: string, o: ModelArgOptions = {}, note: (s: string) => void = () => {}): Promise<LoadedFile> {
  let loaded: LoadedFile;
  const preset = !fs.existsSync(arg) ? PRESETS.find((p) => p.name === arg) : undefined;
  if (preset) {
    if (!o.weights)
      throw new DigitsError(`${arg}: a preset has no trained weights; give a model file, or --weights FILE to load weights onto it`);
    const model = preset.build();
    const r = preset.recipe;
    model.compile({
      optimizer: makeOptimizer(r.optimizer, { learningRate: r.learningRate }),
      loss: r.loss,
      labelSmoothing: r.labelSmoothing,
    });
    loaded = { model, metadata: { preset: preset.name }, format: 'tfjs', kerasVersion: '' };
  } else {
    if (!fs.existsSync(arg))
      throw new UsageError(
        `${arg}: no such model file or directory, nor a preset (run 'digits models' for the list: ${PRESETS.map((p) => p.name).join(', ')})`,
      );
    loaded = o.weights ? await loadArchitecture(arg, o.weights) : await loadModelFile(arg);
  }
  if (o.weights) await loadWeightsInto(loaded.model, o.weights);
  const first = loaded.model.layers[0];
  // a model that divides by 255 itself was fed raw pixels: every image path here yields [0, 1]
  const rescales =
    first instanceof Rescaling && typeof first.scale === 'number' && Math.abs(first.scale * 255 - 1) < 1e-6 && first.offset === 0;
  if (rescales && !o.rawPixels && loaded.model.inputScale === 1) {
    note(`${arg} starts with Rescaling(1/255), so it takes 0-255 pixels: inputs are scaled to match (as --raw-pixels does)`);
  }
  if (o.rawPixels || rescales) {
    loaded.model.inputScale = 255;
    loaded.metadata = { ...(loaded.metadata ?? {}), rawPixels: true };
  }
  return loaded;
}
