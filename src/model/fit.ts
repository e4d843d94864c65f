// The fit loop (Keras' Model.fit): epochs of shuffled batches, augmentation, validation, callbacks,
// checkpoints and bit-exact resume. Free of Node's modules and typed against the few members it uses
// (Fittable), so the browser's lab runs the same loop as the CLI. It lives beside the model, not in
// train/: Sequential.fit delegates to it and imports run one way (model below train).
import { Rng } from '../rng';
import { gatherBytesToFloat, sizeOf, type Input, type Tensor } from '../tensor';
import { DigitsError, UsageError } from '../errors';
import type { RunContext, Weight } from '../layers/layer';
import type { Callback, Logs } from './callback';
import { isSparse, type LossName } from './losses';
import type { Optimizer } from './optimizers';
import { ProgressBar } from './progress';
import type { Sequential } from './sequential';

/** What the loop needs from a model. */
export interface Fittable {
  readonly optimizer?: Optimizer;
  readonly loss: LossName;
  readonly inputShape: number[];
  readonly outputShape: number[];
  readonly layers: readonly { name: string; weights: readonly Weight[] }[];
  stopTraining: boolean;
  build(): unknown;
  context(rng: Rng): RunContext;
  trainOnBatch(x: Float32Array, t: Float32Array, n: number, ctx: RunContext): { loss: number; correct: number };
  evaluate(x: Input, y: Tensor): { loss: number; accuracy: number };
  batchBuffer(key: string, size: number): Float32Array;
}

export interface FitArgs<M = Sequential> {
  batchSize?: number;
  epochs?: number;
  /** Fraction of the training data held out from its end (Keras semantics: taken before shuffling). */
  validationSplit?: number;
  validationData?: [Input, Tensor];
  shuffle?: boolean;
  seed?: number;
  callbacks?: Callback<M>[];
  /** 0 silent, 1 progress bar (one line per epoch when not a terminal). */
  verbose?: 0 | 1;
  /** Epoch to start from (resuming). */
  initialEpoch?: number;
  /** Transforms each training batch in place (data augmentation); gets its own seeded stream. */
  augment?: (x: Float32Array, n: number, rng: Rng) => void;
  /** Receives resumable snapshots of the loop (see src/train/checkpoint.ts). */
  checkpoint?: FitCheckpoint;
  /** Continue from a snapshot taken with the same data, batch size, seed and callbacks. */
  resume?: FitState;
}

/** Everything fit keeps outside the model and optimizer, so a resumed run continues bit for bit. */
export interface FitState {
  /** Epochs finished, and batches finished of the epoch after them (0 at an epoch boundary). */
  epoch: number;
  batch: number;
  /** Rng.getState() of the shuffle, dropout and augmentation streams. */
  rngs: { shuffle: number[]; dropout: number[]; augment: number[] };
  /** Mid-epoch only: the running epoch's sample order (null without shuffling) and running sums. */
  order: Int32Array | null;
  sums: { loss: number; correct: number; seen: number };
  stopTraining: boolean;
  history: History;
  /** getState() of each of FitArgs.callbacks (null where a callback keeps none). */
  callbacks: unknown[];
}

export interface FitCheckpoint {
  /** Called at every epoch end, and after a batch when `due` or `interrupted` says so. */
  save(state: FitState): void;
  /** Take a mid-epoch snapshot now (e.g. every N minutes). */
  due?(): boolean;
  /** Snapshot and return from fit after the current batch (SIGINT/SIGTERM). */
  interrupted?(): boolean;
}

export interface History {
  epoch: number[];
  history: Record<string, number[]>;
}

export function fit<M extends Fittable>(model: M, x: Input, y: Tensor, args: FitArgs<M> = {}): History {
  const run = fitSteps(model, x, y, args);
  for (;;) {
    const r = run.next();
    if (r.done) return r.value;
  }
}

/** Node's setImmediate (no clamped delay); a browser's setTimeout. */
const yieldNow: (f: () => void) => unknown = globalThis.setImmediate ?? ((f) => setTimeout(f, 0));

/** fit that lets the event loop run between batches, so signal handlers and timers fire during training. */
export async function fitAsync<M extends Fittable>(model: M, x: Input, y: Tensor, args: FitArgs<M> = {}): Promise<History> {
  const run = fitSteps(model, x, y, args);
  for (let last = Date.now(); ;) {
    const r = run.next();
    if (r.done) return r.value;
    if (Date.now() - last >= 20) {
      await new Promise<void>((res) => yieldNow(res));
      last = Date.now();
    }
  }
}

/** The fit loop; yields after every batch. */
export function* fitSteps<M extends Fittable>(model: M, x: Input, y: Tensor, args: FitArgs<M> = {}): Generator<void, History, void> {
  if (!model.optimizer) throw new UsageError('fit: compile the model first');
  const batchSize = args.batchSize ?? 32;
  const epochs = args.epochs ?? 1;
  const n = x.shape[0];
  checkData(model, x, y, 'fit');
  let trainEnd = n;
  let val: [Input, Tensor] | undefined = args.validationData;
  if (!val && args.validationSplit) {
    if (!(args.validationSplit > 0 && args.validationSplit < 1))
      throw new UsageError(`fit: validationSplit must be in (0, 1), got ${args.validationSplit}`);
    trainEnd = Math.floor(n * (1 - args.validationSplit));
    val = [slice(x, trainEnd, n), slice(y, trainEnd, n)];
  }
  if (trainEnd < 1) throw new UsageError('fit: no training samples left after the validation split');
  const rng = new Rng(args.seed ?? 0);
  const shuffleRng = rng.fork();
  const ctx = model.context(rng.fork());
  const augmentRng = rng.fork();
  const steps = Math.ceil(trainEnd / batchSize);
  const userCallbacks = args.callbacks ?? [];
  const callbacks = [...userCallbacks];
  const bar = (args.verbose ?? 1) > 0 ? new ProgressBar(steps, epochs) : null;
  if (bar) callbacks.unshift(bar);
  for (const c of callbacks) c.setModel?.(model);
  for (const c of callbacks) c.setParams?.({ epochs, steps, batchSize, samples: trainEnd });
  const history: History = { epoch: [], history: {} };
  const sampleSize = sizeOf(x.shape.slice(1));
  const classes = sizeOf(model.outputShape);
  model.stopTraining = false;
  const ck = args.checkpoint;
  const resume = args.resume;
  if (resume) {
    if (resume.batch > steps || (resume.order && resume.order.length !== trainEnd))
      throw new UsageError(`fit: the resume state does not fit ${trainEnd} training samples in batches of ${batchSize}`);
    shuffleRng.setState(resume.rngs.shuffle);
    ctx.rng.setState(resume.rngs.dropout);
    augmentRng.setState(resume.rngs.augment);
    userCallbacks.forEach((c, i) => {
      if (resume.callbacks[i] != null) c.setState?.(resume.callbacks[i]);
    });
    history.epoch.push(...resume.history.epoch);
    for (const [k, v] of Object.entries(resume.history.history)) history.history[k] = [...v];
    model.stopTraining = resume.stopTraining;
  }
  const snapshot = (epoch: number, batch: number, order: Int32Array | null, loss: number, correct: number, seen: number): FitState => ({
    epoch,
    batch,
    order: batch > 0 ? order : null,
    sums: { loss, correct, seen },
    stopTraining: model.stopTraining,
    rngs: { shuffle: shuffleRng.getState(), dropout: ctx.rng.getState(), augment: augmentRng.getState() },
    history: { epoch: [...history.epoch], history: Object.fromEntries(Object.entries(history.history).map(([k, v]) => [k, [...v]])) },
    callbacks: userCallbacks.map((c) => c.getState?.() ?? null),
  });
  for (const c of callbacks) c.onTrainBegin?.();
  for (let epoch = resume?.epoch ?? args.initialEpoch ?? 0; epoch < epochs && !model.stopTraining; epoch++) {
    const midEpoch = resume !== undefined && resume.batch > 0 && epoch === resume.epoch;
    // the callbacks already began this epoch before the snapshot (a scheduler would apply twice); only the bar redraws
    for (const c of callbacks) if (!midEpoch || c === bar) c.onEpochBegin?.(epoch);
    const order = midEpoch ? resume.order : args.shuffle === false ? null : shuffleRng.permutation(trainEnd);
    let lossSum = 0,
      correct = 0,
      seen = 0;
    if (midEpoch) ({ loss: lossSum, correct, seen } = resume.sums);
    for (let b = midEpoch ? resume.batch : 0; b < steps; b++) {
      for (const c of callbacks) c.onBatchBegin?.(b);
      const start = b * batchSize;
      const bs = Math.min(batchSize, trainEnd - start);
      const xb = model.batchBuffer('x', bs * sampleSize);
      const tb = model.batchBuffer('t', bs * classes);
      gatherBatch(x, y, order, start, bs, sampleSize, classes, isSparse(model.loss) && integerLabels(y), xb, tb);
      args.augment?.(xb, bs, augmentRng);
      const r = model.trainOnBatch(xb, tb, bs, ctx);
      if (!Number.isFinite(r.loss))
        throw new DigitsError(`fit: loss became ${r.loss} at epoch ${epoch + 1}, batch ${b + 1}; lower the learning rate`);
      lossSum += r.loss;
      correct += r.correct;
      seen += bs;
      for (const c of callbacks) c.onBatchEnd?.(b, { loss: lossSum / seen, accuracy: correct / seen });
      const stop = ck?.interrupted?.() ?? false;
      if (stop || (b + 1 < steps && ck?.due?.())) {
        checkWeights(model, epoch, b);
        ck!.save(snapshot(epoch, b + 1, order, lossSum, correct, seen));
        // not onTrainEnd: training is paused, not over
        if (stop) return history;
      }
      yield;
    }
    checkWeights(model, epoch, steps - 1);
    const logs: Logs = { loss: lossSum / seen, accuracy: correct / seen };
    if (val) {
      const v = model.evaluate(val[0], val[1]);
      logs.val_loss = v.loss;
      logs.val_accuracy = v.accuracy;
    }
    for (const c of callbacks) c.onEpochEnd?.(epoch, logs);
    history.epoch.push(epoch);
    for (const [k, v] of Object.entries(logs)) (history.history[k] ??= []).push(v);
    ck?.save(snapshot(epoch + 1, 0, null, 0, 0, 0));
    if (ck?.interrupted?.()) return history;
  }
  for (const c of callbacks) c.onTrainEnd?.(history.history);
  return history;
}

export function checkData(model: Fittable, x: Input, y: Tensor, where: string): void {
  model.build();
  if (sizeOf(x.shape.slice(1)) !== sizeOf(model.inputShape))
    throw new UsageError(`${where}: input samples have shape [${x.shape.slice(1)}], the model expects [${model.inputShape}]`);
  if (x.shape[0] !== y.shape[0]) throw new UsageError(`${where}: ${x.shape[0]} inputs but ${y.shape[0]} targets`);
  const classes = sizeOf(model.outputShape);
  const perSample = sizeOf(y.shape.slice(1));
  // sparse_categorical_crossentropy takes integer labels; one-hot rows mean the same and are taken too
  if (isSparse(model.loss) && perSample === 1) return;
  if (perSample !== classes) {
    throw new UsageError(
      `${where}: targets have ${perSample} values per sample, the model outputs ${classes} (one-hot labels, or integer labels with sparse_categorical_crossentropy)`,
    );
  }
}

/** Targets given as one integer label per sample (else one-hot or soft rows). */
export function integerLabels(y: Tensor): boolean {
  return sizeOf(y.shape.slice(1)) === 1;
}

function slice<T extends Input>(t: T, from: number, to: number): T {
  const per = sizeOf(t.shape.slice(1));
  return { shape: [to - from, ...t.shape.slice(1)], data: t.data.subarray(from * per, to * per) } as T;
}

/** Copy rows (in `order`, or in sequence) into the batch buffers; sparse labels become one-hot. */
export function gatherBatch(
  x: Input,
  y: Tensor,
  order: Int32Array | null,
  start: number,
  bs: number,
  sampleSize: number,
  classes: number,
  sparse: boolean,
  xb: Float32Array | null,
  tb: Float32Array,
): void {
  if (sparse) tb.fill(0);
  const d = x.data;
  if (xb && d instanceof Uint8Array) gatherBytesToFloat(d, order, start, bs, sampleSize, xb);
  for (let i = 0; i < bs; i++) {
    const r = order ? order[start + i] : start + i;
    if (xb && d instanceof Float32Array) xb.set(d.subarray(r * sampleSize, (r + 1) * sampleSize), i * sampleSize);
    if (sparse) tb[i * classes + y.data[r]] = 1;
    else for (let j = 0; j < classes; j++) tb[i * classes + j] = y.data[r * classes + j]; // no view object per row
  }
}

/** NaN/Inf weights stop training before they reach a checkpoint; one pass over the parameters is cheap. */
function checkWeights(model: Fittable, epoch: number, batch: number): void {
  for (const l of model.layers)
    for (const w of l.weights) {
      const bad = w.value.find((v) => !Number.isFinite(v));
      if (bad !== undefined)
        throw new DigitsError(
          `fit: weight ${l.name}/${w.name} became ${bad} at epoch ${epoch + 1}, batch ${batch + 1}; lower the learning rate`,
        );
    }
}
