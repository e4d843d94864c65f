// A preset's recipe turned into a training run: the optimizer, the callbacks (ReduceLROnPlateau,
// OneCycle, EarlyStopping), the validation data, the augmentation hook, then fit and a test evaluation.
// `digits train`, `digits reproduce` and `--ensemble` share trainPreset so the three cannot drift apart.
import { loadDataset, resolveDataDir, toTensor } from '../data/mnist';
import { getKernels, setPrecision } from '../kernels';
import type { FitArgs, FitCheckpoint, FitState, History, Sequential } from '../model/sequential';
import type { Tensor } from '../tensor';
import { recipeAugmentation } from '../train/augment';
import { EarlyStopping, OneCycle, ReduceLROnPlateau } from '../train/callbacks';
import type { Callback, Logs } from '../model/callback';
import { makeOptimizer } from '../model/optimizers';
import type { Preset, Recipe } from './presets';

export interface PresetData {
  train: Tensor;
  trainLabels: Tensor;
  test: Tensor;
  testLabels: Tensor;
  height: number;
  width: number;
  classes: number;
  /** Test labels as integers, for confusion matrices. */
  testClasses: Uint8Array;
}

/** The presets' data: their 10 classes (or `classes`) are what every label is checked against. */
export function loadPresetData(dir?: string, limit?: number, classes = 10): PresetData {
  const ds = loadDataset(resolveDataDir(dir), classes);
  const n = Math.min(limit ?? ds.train.count, ds.train.count);
  const tr = toTensor(ds.train, ds.height, ds.width, ds.classes, n < ds.train.count ? Array.from({ length: n }, (_v, i) => i) : undefined);
  const te = toTensor(ds.test, ds.height, ds.width, ds.classes);
  return {
    train: { shape: [n, ds.height, ds.width, 1], data: tr.x },
    trainLabels: { shape: [n, ds.classes], data: tr.y },
    test: { shape: [ds.test.count, ds.height, ds.width, 1], data: te.x },
    testLabels: { shape: [ds.test.count, ds.classes], data: te.y },
    height: ds.height,
    width: ds.width,
    classes: ds.classes,
    testClasses: ds.test.labels,
  };
}

/**
 * Sets the compute precision a recipe asks for, unless the user chose one (--precision): bf16 where
 * the native core has native bf16, else fp32 with one line on `warn`. Returns what is in effect.
 */
export function applyRecipePrecision(r: Recipe, userChoice: string | undefined, warn: (s: string) => void): 'fp32' | 'bf16' {
  if (userChoice === 'fp32' || userChoice === 'bf16') return userChoice;
  if (r.precision !== 'bf16') return 'fp32';
  try {
    setPrecision('bf16');
    return 'bf16';
  } catch (e) {
    warn(`digits: the recipe trains in bf16, which this machine cannot (${(e as Error).message}); training in fp32, slower\n`);
    return 'fp32';
  }
}

/** Whether a run of this recipe has validation data: a split of the training data, or (as seed003's notebook did) the test set. */
export function validates(r: Recipe, validationSplit = r.validationSplit): boolean {
  return validationSplit > 0 || r.validation === 'test';
}

/**
 * The recipe's callbacks: ReduceLROnPlateau and EarlyStopping need validation data to watch; OneCycle
 * peaks at `learningRate`.
 */
export function recipeCallbacks(r: Recipe, o: { validationSplit: number; learningRate: number }): Callback[] {
  const out: Callback[] = [];
  const watched = validates(r, o.validationSplit);
  if (r.reduceLrOnPlateau && watched) out.push(new ReduceLROnPlateau({ monitor: 'val_accuracy', ...r.reduceLrOnPlateau }));
  if (r.oneCycle) out.push(new OneCycle({ maxLr: o.learningRate, ...r.oneCycle }));
  if (r.earlyStopping && watched) out.push(new EarlyStopping(r.earlyStopping));
  if (r.checkpointBest && watched) out.push(new KeepBest());
  return out;
}

/**
 * Keras' ModelCheckpoint(save_best_only=True) on val_loss, as the model a run keeps: the notebook's saved
 * file is its best epoch whether or not EarlyStopping fired, so at the end the run takes that epoch's weights.
 * (Our own resumable checkpoints already keep every epoch safe on disk.)
 */
class KeepBest implements Callback {
  private model!: Sequential;
  private best = Infinity;
  private weights: Float32Array[] | null = null;
  setModel(m: Sequential) {
    this.model = m;
  }
  onEpochEnd(_epoch: number, logs: Logs) {
    const v = logs.val_loss;
    if (v === undefined || !(v < this.best)) return;
    this.best = v;
    this.weights = this.model.getWeights().map((w) => w.slice());
  }
  onTrainEnd() {
    if (this.weights) this.model.setWeights(this.weights);
  }
  getState() {
    return { best: this.best, weights: this.weights };
  }
  setState(s: { best: number; weights: Float32Array[] | null }) {
    this.best = s.best;
    this.weights = s.weights;
  }
}

/** fit()'s validation arguments: a split when there is one (a user's --validation-split wins), else the test set where the recipe says so. */
export function recipeValidation(
  r: Recipe,
  d: { test: Tensor; testLabels: Tensor },
  validationSplit = r.validationSplit,
): Pick<FitArgs, 'validationSplit' | 'validationData'> {
  if (validationSplit > 0) return { validationSplit };
  return r.validation === 'test' ? { validationData: [d.test, d.testLabels] } : {};
}

/** The recipe's augmentation as fit()'s hook, or undefined when it has none. */
export function recipeAugmenter(r: Recipe, shape: number[]): FitArgs['augment'] {
  return r.augmentation ? recipeAugmentation(r.augmentation).augmenter(shape) : undefined;
}

/**
 * Evaluates on a held-out set after every epoch and logs `test_loss` / `test_accuracy`, for learning
 * curves of recipes that train on all the training data. Nothing reads these logs during training
 * (no callback monitors them), so the test set only watches: it never chooses anything.
 */
export class TestMonitor implements Callback {
  private model!: Sequential;
  constructor(
    private readonly x: Tensor,
    private readonly y: Tensor,
  ) {}
  setModel(m: Sequential) {
    this.model = m;
  }
  onEpochEnd(_epoch: number, logs: Logs) {
    const r = this.model.evaluate(this.x, this.y);
    logs.test_loss = r.loss;
    logs.test_accuracy = r.accuracy;
  }
}

export interface TrainOptions {
  seed: number;
  epochs?: number;
  batchSize?: number;
  /** The recipe's optimizer, learning rate and validation split unless these say otherwise (digits train's options). */
  optimizer?: string;
  learningRate?: number;
  validationSplit?: number;
  /** false: train without the recipe's augmentation (ablations). */
  augment?: boolean;
  /** Log test-set curves each epoch where the recipe has no validation data. */
  monitorTest?: boolean;
  verbose?: 0 | 1;
  callbacks?: Callback[];
  /** false: skip the test-set probabilities (TrainResult.probs is empty), which only reports and votes use. */
  probs?: boolean;
  /**
   * Called with the compiled model before training: digits train restores a checkpoint there and hands
   * back its checkpoint writer and the state to resume from.
   */
  setup?: (model: Sequential) => { checkpoint?: FitCheckpoint; resume?: FitState } | void;
}

export interface TrainResult {
  model: Sequential;
  history: History;
  /** False when a signal stopped the run (its checkpoint is saved): there is no test evaluation then. */
  finished: boolean;
  test: { loss: number; accuracy: number };
  /** Test-set probabilities, [n, classes]. */
  probs: Float32Array;
  trainSeconds: number;
  samplesPerSecond: number;
  epochs: number;
  batchSize: number;
  backend: string;
}

/**
 * A preset's recipe as one training run — the only path there is: digits train (with its options,
 * checkpoints and signals through `setup`), digits reproduce and --ensemble all come through here.
 */
export async function trainPreset(preset: Preset, d: PresetData, o: TrainOptions): Promise<TrainResult> {
  const r = preset.recipe;
  const model = preset.build([d.height, d.width, 1], d.classes, o.seed);
  const optimizer = o.optimizer ?? r.optimizer;
  // another optimizer than the recipe's takes its own default rate, not the recipe's
  const learningRate = o.learningRate ?? (optimizer !== r.optimizer ? undefined : r.learningRate);
  model.compile({ optimizer: makeOptimizer(optimizer, { learningRate }), loss: r.loss, labelSmoothing: r.labelSmoothing });
  const validationSplit = o.validationSplit ?? r.validationSplit;
  const hooks = o.setup?.(model) ?? {};
  const callbacks = [
    ...recipeCallbacks(r, { validationSplit, learningRate: learningRate ?? model.optimizer.learningRate }),
    ...(o.callbacks ?? []),
  ];
  // the test set already is the validation data of a recipe that validates on it
  if (o.monitorTest && !validates(r, validationSplit)) callbacks.push(new TestMonitor(d.test, d.testLabels));
  const epochs = o.epochs ?? r.epochs;
  const batchSize = o.batchSize ?? r.batchSize;
  const t0 = process.hrtime.bigint();
  const history = await model.fitAsync(d.train, d.trainLabels, {
    epochs,
    batchSize,
    ...recipeValidation(r, d, validationSplit),
    seed: o.seed,
    callbacks,
    verbose: o.verbose ?? 1,
    augment: o.augment === false ? undefined : recipeAugmenter(r, [d.height, d.width, 1]),
    ...hooks,
  });
  const trainSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const samples = Math.floor(d.train.shape[0] * (1 - validationSplit)) * history.epoch.length;
  const base = {
    model,
    history,
    trainSeconds,
    samplesPerSecond: samples / trainSeconds,
    epochs: history.epoch.length,
    batchSize,
    backend: getKernels().name,
  };
  if (hooks.checkpoint?.interrupted?.())
    return { ...base, finished: false, test: { loss: NaN, accuracy: NaN }, probs: new Float32Array(0) };
  return {
    ...base,
    finished: true,
    test: model.evaluate(d.test, d.testLabels),
    probs: o.probs === false ? new Float32Array(0) : model.predictProba(d.test).data,
  };
}

/** Mean of several models' probabilities (soft voting). */
export function averageProbabilities(all: Float32Array[]): Float32Array {
  const out = new Float32Array(all[0].length);
  for (const p of all) for (let i = 0; i < out.length; i++) out[i] += p[i];
  for (let i = 0; i < out.length; i++) out[i] /= all.length;
  return out;
}

/** Fraction of rows whose arg-max matches the label. */
export function accuracyOf(probs: Float32Array, labels: ArrayLike<number>, classes: number): number {
  let correct = 0;
  for (let r = 0; r < labels.length; r++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (probs[r * classes + c] > probs[r * classes + best]) best = c;
    if (best === labels[r]) correct++;
  }
  return correct / labels.length;
}
