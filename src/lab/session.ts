// The lab's training session (web/lab.html): a model, MNIST in memory, and fit() with Keras-style
// progress, stop/resume, the test set's confusion matrix and most confident mistakes, and fine-tuning
// on the user's own drawings mixed with MNIST. Free of node modules and of the DOM: the page's Web
// Worker runs it on the WebAssembly core, and the tests and bench/lab.ts run the very same code in Node
// to measure the core's rate there.
import type { Sequential, FitState, History } from '../model/sequential';
import type { Kernels } from '../kernels/kernels';
import type { Recipe } from '../zoo/presets';
import { recipeAugmenter, recipeCallbacks, recipeValidation, validates } from '../zoo/recipe';
import { recipeAugmentation } from '../train/augment';
import { ProgressBar } from '../model/progress';
import type { Callback, Logs } from '../model/callback';
import { confusionMatrix, predictedLabels } from '../train/metrics';
import { makeOptimizer } from '../model/optimizers';
import { parseIdx } from '../data/idx';
import { MNIST_FILES } from '../data/mnist';
import { toModelJson } from '../io/tfjs';
import { DigitsError } from '../errors';
import { Rng } from '../rng';
import { bytesToFloat } from '../tensor';

export const PIXELS = 28 * 28;
export const CLASSES = 10;

export interface LabSplit {
  /** [count, 28, 28, 1] in [0, 1]. */
  x: Float32Array;
  /** One-hot [count, 10]. */
  y: Float32Array;
  labels: Uint8Array;
  /** The raw bytes, for thumbnails of mistakes. */
  images: Uint8Array;
  count: number;
}

export interface LabData {
  train: LabSplit;
  test: LabSplit;
}

function split(imagesBytes: Uint8Array, labelsBytes: Uint8Array, imagesName: string, labelsName: string): LabSplit {
  const images = parseIdx(imagesBytes, imagesName),
    labels = parseIdx(labelsBytes, labelsName);
  if (images.dims.length !== 3 || images.dims[1] !== 28 || images.dims[2] !== 28)
    throw new DigitsError(`${imagesName}: expected 28x28 images, got dims ${images.dims.join('x')}`);
  if (labels.dims.length !== 1 || labels.dims[0] !== images.dims[0])
    throw new DigitsError(`${labelsName}: ${labels.dims.join('x')} labels for ${images.dims[0]} images`);
  const count = images.dims[0];
  const x = new Float32Array(count * PIXELS);
  bytesToFloat(images.data, 0, x, 0, x.length);
  const y = new Float32Array(count * CLASSES);
  for (let i = 0; i < count; i++) {
    const l = labels.data[i];
    if (l >= CLASSES) throw new DigitsError(`${labelsName}: label ${l} at index ${i} is not a digit`);
    y[i * CLASSES + l] = 1;
  }
  return { x, y, labels: labels.data, images: images.data, count };
}

/** The four idx files (already gunzipped), by their MNIST names, → tensors. */
export function decodeMnist(files: Record<string, Uint8Array>): LabData {
  const get = (name: string) => {
    const b = files[name];
    if (!b) throw new DigitsError(`${name}: missing`);
    return b;
  };
  const { trainImages: ti, trainLabels: tl, testImages: si, testLabels: sl } = MNIST_FILES;
  return { train: split(get(ti), get(tl), ti, tl), test: split(get(si), get(sl), si, sl) };
}

/** model.json (TF.js' flavour when TF.js can name every activation, else Keras 3's) + the weights' bytes. */
export function modelTransfer(
  model: Sequential,
  metadata?: Record<string, unknown> | null,
): { json: Record<string, unknown>; weights: Uint8Array } {
  let json: Record<string, unknown>;
  try {
    json = toModelJson(model, metadata ?? undefined);
  } catch (e) {
    if (!(e instanceof DigitsError)) throw e;
    json = toModelJson(model, metadata ?? undefined, 'keras3');
  }
  return { json, weights: weightBytes(model.getWeights()) };
}

/** Float32 weights concatenated, little-endian: weights.bin. */
export function weightBytes(values: Float32Array[]): Uint8Array {
  const n = values.reduce((s, v) => s + v.length, 0);
  const out = new Uint8Array(n * 4);
  const view = new DataView(out.buffer);
  let o = 0;
  for (const v of values) for (let i = 0; i < v.length; i++, o += 4) view.setFloat32(o, v[i], true);
  return out;
}

export interface TrainOptions {
  epochs: number;
  batchSize: number;
  /** Train on the first N training digits (default all 60,000). */
  limit?: number;
  seed?: number;
  /** The preset's recipe: its callbacks (one-cycle, plateau, early stopping), validation and augmentation. */
  recipe?: Recipe | null;
  /** Evaluate the test set after each epoch (test_loss / test_accuracy in the curves) where nothing validates. */
  monitorTest?: boolean;
}

export interface TrainHooks {
  /** Keras' progress text, with its carriage returns (the bar redraws in place). */
  log?(text: string): void;
  /** After every batch: the epoch's running loss and accuracy, and samples trained so far in this call. */
  batch?(epoch: number, batch: number, steps: number, logs: Logs): void;
  epoch?(epoch: number, logs: Logs): void;
  /** Polled after every batch: true stops after that batch (resumable). */
  stop?(): boolean;
}

export interface TrainOutcome {
  history: History;
  stopped: boolean;
  /** Samples trained in this call, the seconds spent in batches (not in evaluation), and their ratio. */
  samples: number;
  seconds: number;
  samplesPerSecond: number;
  /** Where the run stands: epochs finished, batches into the next. */
  epoch: number;
  batch: number;
}

export interface Mistake {
  index: number;
  label: number;
  predicted: number;
  confidence: number;
  pixels: Uint8Array;
}

export interface TestReport {
  loss: number;
  accuracy: number;
  confusion: number[][];
  mistakes: Mistake[];
}

/** Seconds spent inside batches (shuffle, gather, step), not in epoch-end evaluation. */
class BatchClock implements Callback {
  seconds = 0;
  samples = 0;
  private t0 = 0;
  private sizes: { batch: number; steps: number; samples: number } = { batch: 0, steps: 0, samples: 0 };
  constructor(private readonly now: () => number) {}
  setParams(p: { batchSize: number; steps: number; samples: number }) {
    this.sizes = { batch: p.batchSize, steps: p.steps, samples: p.samples };
  }
  onBatchBegin() {
    this.t0 = this.now();
  }
  onBatchEnd(b: number) {
    this.seconds += (this.now() - this.t0) / 1000;
    this.samples += Math.min(this.sizes.batch, this.sizes.samples - b * this.sizes.batch);
  }
}

class Hooked implements Callback {
  private steps = 0;
  /** A run resumed mid-epoch gets no onEpochBegin for that epoch: it starts from the snapshot's. */
  constructor(
    private readonly hooks: TrainHooks,
    private epochNow = 0,
  ) {}
  setParams(p: { steps: number }) {
    this.steps = p.steps;
  }
  onEpochBegin(e: number) {
    this.epochNow = e;
  }
  onBatchEnd(b: number, logs: Logs) {
    this.hooks.batch?.(this.epochNow, b, this.steps, logs);
  }
  onEpochEnd(e: number, logs: Logs) {
    this.hooks.epoch?.(e, logs);
  }
}

/** Evaluates the test set after every epoch into the logs (watch only: nothing monitors it). */
class TestWatch implements Callback {
  private model!: Sequential;
  constructor(private readonly test: LabSplit) {}
  setModel(m: Sequential) {
    this.model = m;
  }
  onEpochEnd(_e: number, logs: Logs) {
    const r = this.model.evaluate(
      { shape: [this.test.count, 28, 28, 1], data: this.test.x },
      { shape: [this.test.count, CLASSES], data: this.test.y },
    );
    logs.test_loss = r.loss;
    logs.test_accuracy = r.accuracy;
  }
}

/** Keras' live bar (model/progress.ts) drawn into `log` as a terminal would receive it. */
function progressBar(steps: number, epochs: number, log: (s: string) => void): ProgressBar {
  return new ProgressBar(steps, epochs, { write: log }, true);
}

const clock = (): number => (typeof performance !== 'undefined' ? performance.now() : Date.now());

export class LabSession {
  /** A stopped run's snapshot and its options: resume() continues it bit for bit. */
  private paused: { state: FitState; opts: TrainOptions } | null = null;

  constructor(
    public model: Sequential,
    public data: LabData | null = null,
    public metadata: Record<string, unknown> | null = null,
  ) {}

  get canResume(): boolean {
    return this.paused !== null;
  }

  /** Puts the session's model on `kernels` (the wasm core in the worker). */
  useKernels(k: Kernels): void {
    this.model.kernels = k;
  }

  /** Compiles an uncompiled model as `digits train --from` does for one: RMSprop 1e-3, categorical cross-entropy. */
  ensureCompiled(): void {
    if (!this.model.optimizer)
      this.model.compile({
        optimizer: makeOptimizer('rmsprop', { learningRate: 1e-3 }),
        loss: 'categorical_crossentropy',
        metrics: ['accuracy'],
      });
  }

  train(opts: TrainOptions, hooks: TrainHooks = {}): TrainOutcome {
    this.paused = null;
    return this.run(opts, hooks, undefined);
  }

  resume(hooks: TrainHooks = {}): TrainOutcome {
    if (!this.paused) throw new DigitsError('resume: no stopped run to resume');
    const { state, opts } = this.paused;
    this.paused = null;
    return this.run(opts, hooks, state);
  }

  private run(opts: TrainOptions, hooks: TrainHooks, resume: FitState | undefined): TrainOutcome {
    const d = this.data;
    if (!d) throw new DigitsError('train: MNIST is not loaded');
    this.ensureCompiled();
    const n = Math.max(1, Math.min(d.train.count, opts.limit ?? d.train.count));
    const x = { shape: [n, 28, 28, 1], data: d.train.x.subarray(0, n * PIXELS) };
    const y = { shape: [n, CLASSES], data: d.train.y.subarray(0, n * CLASSES) };
    const r = opts.recipe ?? null;
    const lr = r?.learningRate ?? this.model.optimizer.learningRate;
    // recipe callbacks and the test watch keep their state in the snapshot (getState), so fresh ones resume
    const callbacks: Callback[] = r ? recipeCallbacks(r, { validationSplit: r.validationSplit, learningRate: lr }) : [];
    const watch = (opts.monitorTest ?? true) && !(r && validates(r));
    if (watch) callbacks.push(new TestWatch(d.test));
    const timer = new BatchClock(clock);
    callbacks.push(timer, new Hooked(hooks, resume?.epoch ?? 0));
    let stopped = false;
    let last: FitState | null = null;
    const bar = hooks.log ? progressBar(Math.ceil((n * (1 - (r?.validationSplit ?? 0))) / opts.batchSize), opts.epochs, hooks.log) : null;
    if (bar) {
      // last, as Keras' progress logger is: the epoch's line shows what the others logged (test_loss…)
      callbacks.push(bar);
      if (resume && resume.batch > 0) bar.onEpochBegin(resume.epoch);
    }
    const history = this.model.fit(x, y, {
      epochs: opts.epochs,
      batchSize: opts.batchSize,
      seed: opts.seed ?? 0,
      verbose: 0,
      callbacks,
      ...(r
        ? recipeValidation(r, {
            test: { shape: [d.test.count, 28, 28, 1], data: d.test.x },
            testLabels: { shape: [d.test.count, CLASSES], data: d.test.y },
          })
        : {}),
      augment: r ? recipeAugmenter(r, [28, 28, 1]) : undefined,
      resume,
      checkpoint: {
        save: (state) => {
          last = state;
        },
        interrupted: () => (stopped ||= hooks.stop?.() ?? false),
      },
    });
    if (stopped && last) this.paused = { state: last, opts };
    const where = this.paused?.state;
    return {
      history,
      stopped,
      samples: timer.samples,
      seconds: timer.seconds,
      samplesPerSecond: timer.seconds > 0 ? timer.samples / timer.seconds : 0,
      epoch: where ? where.epoch : history.epoch.length,
      batch: where ? where.batch : 0,
    };
  }

  /** Loss, accuracy, confusion matrix and the `k` most confident mistakes on the test set. */
  evaluateTest(k = 24): TestReport {
    const t = this.data?.test;
    if (!t) throw new DigitsError('evaluate: MNIST is not loaded');
    this.ensureCompiled();
    const { loss, accuracy } = this.model.evaluate({ shape: [t.count, 28, 28, 1], data: t.x }, { shape: [t.count, CLASSES], data: t.y });
    const probs = this.model.predictProba({ shape: [t.count, 28, 28, 1], data: t.x }).data;
    const pred = predictedLabels(probs, t.count, CLASSES);
    const confusion = confusionMatrix(t.labels, pred, CLASSES);
    const wrong: Mistake[] = [];
    for (let i = 0; i < t.count; i++) {
      if (pred[i] === t.labels[i]) continue;
      wrong.push({
        index: i,
        label: t.labels[i],
        predicted: pred[i],
        confidence: probs[i * CLASSES + pred[i]],
        pixels: t.images.subarray(i * PIXELS, (i + 1) * PIXELS),
      });
    }
    wrong.sort((a, b) => b.confidence - a.confidence);
    return { loss, accuracy, confusion, mistakes: wrong.slice(0, k).map((m) => ({ ...m, pixels: m.pixels.slice() })) };
  }

  /**
   * Fine-tunes on the user's drawings mixed with MNIST so the model does not forget: each drawing is
   * repeated `repeat` times among `mnist` random training digits, every sample slightly rotated, shifted
   * and zoomed (the drawings are few), at a learning rate of at most `learningRate`.
   */
  fineTune(
    examples: { pixels: ArrayLike<number>; label: number }[],
    o: { epochs?: number; batchSize?: number; mnist?: number; repeat?: number; learningRate?: number; seed?: number } = {},
    hooks: TrainHooks = {},
  ): TrainOutcome {
    const d = this.data;
    if (!d) throw new DigitsError('fine-tune: MNIST is not loaded');
    if (examples.length === 0) throw new DigitsError('fine-tune: no drawings to learn from');
    this.ensureCompiled();
    this.paused = null;
    const rng = new Rng(o.seed ?? 1);
    const repeat = o.repeat ?? 8,
      mnist = Math.min(d.train.count, o.mnist ?? 1500);
    const n = examples.length * repeat + mnist;
    const x = new Float32Array(n * PIXELS),
      y = new Float32Array(n * CLASSES);
    let at = 0;
    for (const e of examples) {
      if (e.pixels.length !== PIXELS || !(e.label >= 0 && e.label < CLASSES))
        throw new DigitsError('fine-tune: a drawing must be 28x28 pixels with a label 0-9');
      for (let r = 0; r < repeat; r++, at++) {
        x.set(e.pixels, at * PIXELS);
        y[at * CLASSES + e.label] = 1;
      }
    }
    for (let i = 0; i < mnist; i++, at++) {
      const j = rng.int(d.train.count);
      x.set(d.train.x.subarray(j * PIXELS, (j + 1) * PIXELS), at * PIXELS);
      y.set(d.train.y.subarray(j * CLASSES, (j + 1) * CLASSES), at * CLASSES);
    }
    const opt = this.model.optimizer;
    const saved = opt.learningRate;
    opt.learningRate = Math.min(saved, o.learningRate ?? 5e-4);
    const timer = new BatchClock(clock);
    const callbacks: Callback[] = [timer, new Hooked(hooks)];
    if (hooks.log) callbacks.push(progressBar(Math.ceil(n / (o.batchSize ?? 32)), o.epochs ?? 4, hooks.log));
    try {
      const history = this.model.fit(
        { shape: [n, 28, 28, 1], data: x },
        { shape: [n, CLASSES], data: y },
        {
          epochs: o.epochs ?? 4,
          batchSize: o.batchSize ?? 32,
          seed: o.seed ?? 1,
          verbose: 0,
          callbacks,
          augment: recipeAugmentation({ rotation: 8, zoom: 0.08, shift: 0.08 }).augmenter([28, 28, 1]),
        },
      );
      return {
        history,
        stopped: false,
        samples: timer.samples,
        seconds: timer.seconds,
        samplesPerSecond: timer.samples / Math.max(1e-9, timer.seconds),
        epoch: history.epoch.length,
        batch: 0,
      };
    } finally {
      opt.learningRate = saved;
    }
  }
}
