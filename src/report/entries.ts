// Report entries from training runs (digits reproduce) or from a saved model directory (digits
// report): everything the page shows, with the confusion matrix and the mistakes recomputed from
// the model and the test set, so a model trained by `digits train --out` needs nothing extra.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadModel } from '../io/tfjs';
import type { LoadedModel } from '../io/tfjs-json';
import { evaluateNotebookModel, referenceRun } from './reference';
import type { Sequential } from '../model/sequential';
import { PRESETS, type Preset } from '../zoo/presets';
import { accuracyOf, averageProbabilities, type PresetData } from '../zoo/recipe';
import { analyse, type ReportEntry, type RunSummary } from './report';
import { DigitsError } from '../errors';

/** Issue 4's targets: each seed preset (and its -tuned twin) at or above its document's number with the document's epochs; ours above them all. */
const SEED_TARGETS: Record<string, number> = {
  'seed000-kaggle': 0.995,
  'seed001-small': 0.9461,
  'seed002-mlp': 0.98,
  'seed002-cnn': 0.992,
  'seed003-bn': 0.9938,
  'seed004-keras': 0.9886,
  'digits-best': 0.9965,
};
/**
 * Issue 16: a seed run as its notebook ran it must land inside the notebook's own run-to-run spread
 * (98.02%, 99.27%, 99.38/99.40%), not beat the document; the -tuned twins keep issue 4's targets.
 */
const NOTEBOOK_TARGETS: Record<string, number> = { 'seed002-mlp': 0.979, 'seed002-cnn': 0.9915, 'seed003-bn': 0.9935 };
export const TARGETS: Record<string, number> = Object.fromEntries(
  PRESETS.flatMap((p) => {
    const t = p.tunes
      ? SEED_TARGETS[p.tunes]
      : (NOTEBOOK_TARGETS[p.name] ?? (p.name.includes('-holdout') ? undefined : SEED_TARGETS[p.name]));
    return t === undefined ? [] : [[p.name, t]];
  }),
);

export function recipeText(p: Preset, epochs = p.recipe.epochs): string {
  const r = p.recipe;
  const parts = [
    `${r.optimizer} lr ${r.learningRate}`,
    r.labelSmoothing ? `${r.loss} with label smoothing ${r.labelSmoothing}` : r.loss,
    `batch ${r.batchSize}`,
    `${epochs} epochs`,
    r.validation === 'test'
      ? "the test set as validation data (the notebook's)"
      : r.validationSplit
        ? `validation split ${r.validationSplit}`
        : 'all the training images (no validation split)',
  ];
  if (r.earlyStopping)
    parts.push(
      `early stopping on ${r.earlyStopping.monitor} (patience ${r.earlyStopping.patience}${r.earlyStopping.restoreBestWeights ? ', best weights restored' : ''})`,
    );
  if (r.checkpointBest) parts.push('the best val_loss epoch kept (ModelCheckpoint)');
  const pc = (f: number) => Math.round(f * 1000) / 10;
  if (r.augmentation) {
    const e = r.augmentation.elastic;
    parts.push(
      `augmentation (rotation ±${r.augmentation.rotation}°, zoom ±${pc(r.augmentation.zoom)}%, shift ±${pc(r.augmentation.shift)}%${e ? `, elastic ±${e.alpha} px every ${e.spacing} px` : ''})`,
    );
  }
  if (r.reduceLrOnPlateau)
    parts.push(
      `ReduceLROnPlateau on val_accuracy (factor ${r.reduceLrOnPlateau.factor}, patience ${r.reduceLrOnPlateau.patience}, min ${r.reduceLrOnPlateau.minLr})`,
    );
  if (r.oneCycle)
    parts.push(
      `one-cycle schedule (peak ${r.learningRate}, warm-up ${pc(r.oneCycle.pctStart)}% of steps, start ÷${r.oneCycle.divFactor}, end ÷${r.oneCycle.divFactor * r.oneCycle.finalDivFactor})`,
    );
  return parts.join(', ') + (p.ours ? `. Ours: ${p.ours}` : '');
}

export interface RunRecord extends RunSummary {
  history: Record<string, number[]>;
  batchSize: number;
  backend: string;
  /** The trained model, or its directory (loaded when the run is shown). */
  model?: Sequential;
  modelDir?: string;
  probs?: Float32Array;
}

/** Index of the median run by test accuracy (the lower middle for an even count). */
export function medianIndex(runs: { testAccuracy: number }[]): number {
  const order = runs.map((_r, i) => i).sort((a, b) => runs[a].testAccuracy - runs[b].testAccuracy);
  return order[Math.floor((order.length - 1) / 2)];
}

function probsOf(run: RunRecord, d: PresetData): { probs: Float32Array; model: Sequential } {
  const model = run.model ?? loadModel(run.modelDir!).model;
  return { probs: run.probs ?? model.predictProba(d.test).data, model };
}

/** One report entry from one or more runs of a preset (the median run is shown). */
export function entryFromRuns(
  p: Preset,
  runs: RunRecord[],
  d: PresetData,
  o: { epochsScale: number; limited?: boolean; notes?: string[] },
): ReportEntry {
  const shown = runs[medianIndex(runs)];
  const { probs, model } = probsOf(shown, d);
  const a = analyse(probs, d.testClasses, d.test.data, d.classes, d.height, d.width);
  return {
    name: p.name,
    description: p.description,
    summary: model.summary(),
    params: model.countParams(),
    ours: p.document === '(ours)',
    // a quick run is not the recipe, so holding it to the recipe's target would mean nothing
    recipe: recipeText(p, shown.epochs),
    reportedAccuracy: p.reportedAccuracy,
    target: o.epochsScale === 1 && !o.limited ? (TARGETS[p.name] ?? null) : null,
    testAccuracy: shown.testAccuracy,
    testLoss: shown.testLoss,
    runs: runs.map(({ seed, testAccuracy, testLoss, trainSeconds, samplesPerSecond, epochs }) => ({
      seed,
      testAccuracy,
      testLoss,
      trainSeconds,
      samplesPerSecond,
      epochs,
    })),
    shownSeed: shown.seed,
    epochs: shown.epochs,
    epochsScale: o.epochsScale,
    batchSize: shown.batchSize,
    trainSeconds: shown.trainSeconds,
    totalSeconds: runs.reduce((s, r) => s + r.trainSeconds, 0),
    samplesPerSecond: shown.samplesPerSecond,
    backend: shown.backend,
    history: shown.history,
    confusion: a.confusion,
    misclassified: a.misclassified,
    misclassifiedTotal: a.misclassifiedTotal,
    imageShape: [d.height, d.width],
    notes: o.notes ?? [],
    ...withReference(p.reference),
  };
}

/** The notebook's run for a preset that has one; its model's score is added by the command (it is async). */
function withReference(name: string | undefined): Pick<ReportEntry, 'reference'> {
  const run = referenceRun(name);
  return run ? { reference: { run } } : {};
}

interface SavedMeta {
  preset?: string;
  seed?: number;
  epochs?: number;
  batchSize?: number;
  backend?: string;
  epochsScale?: number;
  precision?: string;
  history?: Record<string, number[]>;
  test?: { loss: number; accuracy: number };
  trainSeconds?: number;
  samplesPerSecond?: number;
}

/** What `digits train --ensemble N --out DIR` writes beside the member models. */
export interface EnsembleFile {
  preset: string;
  members: string[];
  /** Each member's preset: the ensemble's own, or a partner of it (memberOf); absent in files from before partners. */
  presets?: string[];
  seeds: number[];
  test: { accuracy: number };
  memberAccuracies: number[];
  trainSeconds: number;
}

/** A report entry for a saved model directory, or for an ensemble directory (ensemble.json + members). */
/** Whether `dir` holds an ensemble (ensemble.json beside its members' directories). */
export function isEnsembleDir(dir: string): boolean {
  return fs.existsSync(path.join(dir, 'ensemble.json'));
}

/**
 * A report entry for a saved model (a directory, or the model already loaded from any file format), or
 * for an ensemble directory (ensemble.json + members).
 */
export function entryFromModelDir(dir: string, d: PresetData, loaded?: LoadedModel): ReportEntry {
  if (isEnsembleDir(dir))
    return entryFromEnsemble(dir, JSON.parse(fs.readFileSync(path.join(dir, 'ensemble.json'), 'utf8')) as EnsembleFile, d);
  const { model, metadata } = loaded ?? loadModel(dir);
  checkFits(model, d, dir);
  const meta = (metadata ?? {}) as SavedMeta;
  const preset = PRESETS.find((p) => p.name === meta.preset);
  const probs = model.predictProba(d.test).data;
  const a = analyse(probs, d.testClasses, d.test.data, d.classes, d.height, d.width);
  const loss = model.loss ? model.evaluate(d.test, d.testLabels).loss : (meta.test?.loss ?? NaN);
  const notes: string[] = [];
  if (!metadata) notes.push('model.json has no digits metadata (not saved by digits train): no history, timing or preset.');
  if (meta.test && Math.abs(meta.test.accuracy - a.accuracy) > 1e-9)
    notes.push(
      `Saved test accuracy ${(meta.test.accuracy * 100).toFixed(2)}% differs from today's ${(a.accuracy * 100).toFixed(2)}% (different test data?).`,
    );
  if (meta.epochsScale !== undefined && meta.epochsScale !== 1)
    notes.push(`Quick run: the recipe's epochs scaled by ${meta.epochsScale}; not the real recipe.`);
  const run: RunSummary = {
    seed: meta.seed ?? 0,
    testAccuracy: a.accuracy,
    testLoss: loss,
    trainSeconds: meta.trainSeconds ?? 0,
    samplesPerSecond: meta.samplesPerSecond ?? 0,
    epochs: meta.epochs ?? 0,
  };
  return {
    name: meta.preset ?? path.basename(path.resolve(dir)),
    description: preset?.description ?? `model loaded from ${dir}`,
    ours: preset?.document === '(ours)',
    summary: model.summary(),
    params: model.countParams(),
    recipe: preset ? recipeText(preset, meta.epochs) : 'unknown (not a preset)',
    // the target holds for the recipe's epochs only (a shortened run is not the recipe)
    reportedAccuracy: preset?.reportedAccuracy ?? null,
    target: preset && (meta.epochsScale ?? 1) === 1 && meta.epochs === preset.recipe.epochs ? (TARGETS[preset.name] ?? null) : null,
    testAccuracy: a.accuracy,
    testLoss: loss,
    runs: [run],
    shownSeed: run.seed,
    epochs: run.epochs,
    epochsScale: meta.epochsScale ?? 1,
    batchSize: meta.batchSize ?? 0,
    trainSeconds: run.trainSeconds,
    totalSeconds: run.trainSeconds,
    samplesPerSecond: run.samplesPerSecond,
    backend: meta.backend ?? 'unknown',
    history: meta.history ?? {},
    confusion: a.confusion,
    misclassified: a.misclassified,
    misclassifiedTotal: a.misclassifiedTotal,
    imageShape: [d.height, d.width],
    notes,
    trainedPrecision: meta.precision,
    ...withReference(preset?.reference),
  };
}

function entryFromEnsemble(dir: string, e: EnsembleFile, d: PresetData): ReportEntry {
  const members = e.members.map((m) => loadModel(path.join(dir, m)));
  members.forEach((m, i) => checkFits(m.model, d, path.join(dir, e.members[i])));
  const memberProbs = members.map((m) => m.model.predictProba(d.test).data);
  const probs = averageProbabilities(memberProbs);
  const a = analyse(probs, d.testClasses, d.test.data, d.classes, d.height, d.width);
  const metas = members.map((m) => (m.metadata ?? {}) as SavedMeta);
  const preset = PRESETS.find((p) => p.name === e.preset);
  let loss = 0;
  for (let r = 0; r < d.testClasses.length; r++) loss -= Math.log(Math.max(probs[r * d.classes + d.testClasses[r]], 1e-7));
  const runs: RunSummary[] = metas.map((m, i) => ({
    seed: m.seed ?? e.seeds[i],
    label: e.presets ? `${e.presets[i]}, seed ${m.seed ?? e.seeds[i]}` : undefined,
    testAccuracy: accuracyOf(memberProbs[i], d.testClasses, d.classes),
    testLoss: m.test?.loss ?? NaN,
    trainSeconds: m.trainSeconds ?? 0,
    samplesPerSecond: m.samplesPerSecond ?? 0,
    epochs: m.epochs ?? 0,
  }));
  const total = runs.reduce((s, r) => s + r.trainSeconds, 0);
  // one summary per distinct network, in member order: a mixed ensemble shows both
  const networks = [...new Map(members.map((m, i) => [e.presets?.[i] ?? e.preset, m.model] as const))];
  const summary = networks.length === 1 ? members[0].model.summary() : networks.map(([n, m]) => `${n}:\n${m.summary()}`).join('\n\n');
  const mixed = networks.length > 1 ? ` Members alternate between ${networks.map(([n]) => n).join(' and ')}.` : '';
  return {
    name: `${e.preset} ensemble of ${members.length}`,
    ours: preset?.document === '(ours)',
    description: `${preset?.description ?? e.preset}.${mixed} Soft voting: the members' probabilities averaged.`,
    summary,
    params: members.reduce((s, m) => s + m.model.countParams(), 0),
    recipe: preset ? recipeText(preset, metas[0].epochs) : 'unknown',
    reportedAccuracy: preset?.reportedAccuracy ?? null,
    target: e.preset === 'digits-best' ? 0.9975 : null,
    testAccuracy: a.accuracy,
    testLoss: loss / d.testClasses.length,
    runs,
    ensemble: true,
    shownSeed: runs[0].seed,
    epochs: runs[0].epochs,
    epochsScale: metas[0].epochsScale ?? 1,
    batchSize: metas[0].batchSize ?? 0,
    trainSeconds: total,
    totalSeconds: total,
    samplesPerSecond: runs.reduce((s, r) => s + r.samplesPerSecond, 0) / runs.length,
    backend: metas[0].backend ?? 'unknown',
    history: metas[0].history ?? {},
    confusion: a.confusion,
    misclassified: a.misclassified,
    misclassifiedTotal: a.misclassifiedTotal,
    imageShape: [d.height, d.width],
    trainedPrecision: precisionOf(metas),
    notes: [
      `Members' test accuracies: ${runs.map((r) => `${(r.testAccuracy * 100).toFixed(2)}%`).join(', ')}; the curves are member 1's (seed ${runs[0].seed}).`,
      'Parameters count all members together.',
    ],
  };
}

/** The members' training precision: one word when they agree, each member's otherwise; undefined where any did not record it. */
function precisionOf(metas: SavedMeta[]): string | undefined {
  if (metas.some((m) => !m.precision)) return undefined;
  const all = [...new Set(metas.map((m) => m.precision))];
  return all.length === 1 ? all[0] : `${metas.map((m) => m.precision).join(', ')} (member by member)`;
}

function checkFits(model: Sequential, d: PresetData, where: string): void {
  const inSize = model.inputShape.reduce((a, b) => a * b, 1);
  if (inSize !== d.height * d.width)
    throw new DigitsError(`${where}: the model takes [${model.inputShape}] inputs, the dataset has ${d.height}x${d.width} images`);
  const out = model.outputShape.reduce((a, b) => a * b, 1);
  if (out !== d.classes) throw new DigitsError(`${where}: the model has ${out} outputs, the dataset has ${d.classes} classes`);
}

/** Scores the notebooks' own model files for the entries whose reference run names one (in place). */
export async function addNotebookModels(entries: ReportEntry[], d: PresetData, dir: string | undefined): Promise<void> {
  for (const e of entries) if (e.reference) e.reference.model = await evaluateNotebookModel(e.reference.run, d, dir);
}
