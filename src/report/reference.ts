// The seeds' notebooks as they ran: their printed per-epoch numbers (reference-runs/<preset>.json, each
// naming its source) and, where the notebook's own trained model file is at hand, its score here —
// drawn and tabulated beside our runs of the same recipe.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadModelFile } from '../io/model-file';
import type { PresetData } from '../zoo/recipe';

const DIR = path.resolve(__dirname, '../../../reference-runs');

export interface ReferenceRun {
  preset: string;
  source: { repository: string; file: string; what: string };
  recipe: string;
  /** Keras' history: loss, accuracy, and val_loss / val_accuracy where the notebook validated. */
  history: Record<string, number[]>;
  test: { accuracy: number; loss?: number; note?: string };
  /** The notebook's own trained model file, where one survives. */
  model?: { file: string; what: string };
}

/** The notebook's own model, evaluated on our test set; or why it was not. */
export type NotebookModel = { file: string; kerasVersion: string; accuracy: number; loss: number } | { file: string; missing: string };

/** The reference run a preset names (reference-runs/<name>.json), or null. */
export function referenceRun(name: string | undefined): ReferenceRun | null {
  if (!name) return null;
  const file = path.join(DIR, `${name}.json`);
  return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as ReferenceRun) : null;
}

/**
 * Scores the notebook's model file, looked for in `dir` (the Keras files directory: --notebook-models,
 * else `keras/` beside the data directory, the layout of ../shared).
 */
export async function evaluateNotebookModel(ref: ReferenceRun, d: PresetData, dir: string | undefined): Promise<NotebookModel | undefined> {
  if (!ref.model) return undefined;
  const file = dir ? path.join(dir, ref.model.file) : ref.model.file;
  if (!dir || !fs.existsSync(file)) return { file: ref.model.file, missing: `not found${dir ? ` in ${dir}` : ''} (--notebook-models DIR)` };
  const loaded = await loadModelFile(file);
  const model = loaded.model;
  if (!model.loss) model.compile({ optimizer: 'sgd', loss: 'categorical_crossentropy' });
  const r = model.evaluate(d.test, d.testLabels);
  return { file, kerasVersion: loaded.kerasVersion, accuracy: r.accuracy, loss: r.loss };
}

/** Where the notebooks' model files are by default: `keras/` beside the MNIST directory (../shared/keras here). */
export function defaultNotebookModels(dataDir: string): string {
  return path.join(path.dirname(path.resolve(dataDir)), 'keras');
}
