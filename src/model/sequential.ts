// Keras' Sequential: a stack of layers with compile / fit / evaluate / predict / summary.
import { getKernels, type Kernels } from '../kernels';
import { Activated } from '../layers/activation';
import { Conv2D } from '../layers/conv2d';
import { MaxPooling2D } from '../layers/pooling';
import type { Layer, RunContext, Weight } from '../layers/layer';
import { Rng } from '../rng';
import { argmaxRow, sizeOf, type Tensor } from '../tensor';
import { checkLoss, fusesSoftmax, isSparse, lossForward, type LossName } from '../train/losses';
import { makeOptimizer, type Optimizer, type OptimizerConfig } from '../train/optimizers';
import type { Callback, Logs } from '../train/callbacks';
import { ProgressBar } from '../train/progress';
import { summary } from './summary';
import { snakeCase } from '../layers/registry';
import { DigitsError, UsageError } from '../errors';

export interface CompileArgs {
  optimizer: Optimizer | string;
  optimizerConfig?: OptimizerConfig;
  loss: LossName | string;
  metrics?: string[];
  /**
   * Keras' CategoricalCrossentropy(label_smoothing=ε): targets become t·(1 − ε) + ε / classes, in
   * training and in evaluate's loss alike. Only for categorical_crossentropy.
   */
  labelSmoothing?: number;
  /**
   * Keras' from_logits: the model outputs logits (its last layer has no softmax) and the cross-entropy
   * applies the softmax itself, exactly (log-sum-exp, no clipping).
   */
  fromLogits?: boolean;
}

export interface FitArgs {
  batchSize?: number;
  epochs?: number;
  /** Fraction of the training data held out from its end (Keras semantics: taken before shuffling). */
  validationSplit?: number;
  validationData?: [Tensor, Tensor];
  shuffle?: boolean;
  seed?: number;
  callbacks?: Callback[];
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

export class Sequential {
  name: string;
  layers: Layer[] = [];
  inputShape: number[] = [];
  optimizer!: Optimizer;
  loss!: LossName;
  metrics: string[] = [];
  /** CompileArgs.labelSmoothing; 0 is none. */
  labelSmoothing = 0;
  /** CompileArgs.fromLogits. */
  fromLogits = false;
  /**
   * Multiplies every input before the first layer: 255 for models trained on raw 0–255 pixels, since
   * every image path here yields pixels in [0, 1] (--raw-pixels; kept in our metadata, not in the layers).
   */
  inputScale = 1;
  stopTraining = false;
  kernels: Kernels;
  private built = false;
  private rng: Rng;

  constructor(args: { name?: string; layers?: Layer[]; seed?: number; kernels?: Kernels } = {}) {
    this.name = args.name ?? 'sequential';
    this.rng = new Rng(args.seed ?? 0);
    this.kernels = args.kernels ?? getKernels();
    for (const l of args.layers ?? []) this.add(l);
  }

  add(layer: Layer): this {
    if (this.built) throw new UsageError('Sequential.add: the model is already built');
    if (!layer.name) {
      const base = snakeCase(layer.className);
      const same = this.layers.filter((l) => l.className === layer.className).length;
      layer.name = same === 0 ? base : `${base}_${same}`;
    }
    if (this.layers.some((l) => l.name === layer.name)) throw new UsageError(`Sequential.add: duplicate layer name '${layer.name}'`);
    this.layers.push(layer);
    return this;
  }

  /** Fix shapes and create weights; the input shape comes from the first layer's inputShape. */
  build(inputShape?: number[]): this {
    if (this.built) return this;
    const shape = inputShape ?? this.layers[0]?.declaredInputShape;
    if (!shape) throw new UsageError('Sequential.build: give the first layer an inputShape');
    if (this.layers.length === 0) throw new UsageError('Sequential.build: the model has no layers');
    this.inputShape = shape;
    let s = shape;
    for (const l of this.layers) {
      l.build(s, this.rng);
      s = l.outputShape;
    }
    this.built = true;
    return this;
  }

  get outputShape(): number[] {
    return this.layers[this.layers.length - 1].outputShape;
  }

  countParams(): number {
    return this.layers.reduce((s, l) => s + l.countParams(), 0);
  }

  summary(): string {
    this.build();
    return summary(this);
  }

  compile(args: CompileArgs): void {
    this.build();
    this.optimizer = typeof args.optimizer === 'string' ? makeOptimizer(args.optimizer, args.optimizerConfig) : args.optimizer;
    this.loss = checkLoss(args.loss);
    this.metrics = args.metrics ?? ['accuracy'];
    const ls = args.labelSmoothing ?? 0;
    if (!(Number.isFinite(ls) && ls >= 0 && ls < 1)) throw new UsageError(`compile: labelSmoothing must be in [0, 1), got ${ls}`);
    if (ls > 0 && this.loss !== 'categorical_crossentropy')
      throw new UsageError(`compile: labelSmoothing needs categorical_crossentropy, not ${this.loss}`);
    this.labelSmoothing = ls;
    const fromLogits = args.fromLogits ?? false;
    if (fromLogits && !fusesSoftmax(this.loss)) throw new UsageError(`compile: fromLogits needs a cross-entropy loss, not ${this.loss}`);
    const last = this.layers[this.layers.length - 1];
    if (fromLogits && last instanceof Activated && last.activation === 'softmax')
      throw new UsageError('compile: fromLogits with a softmax output layer would apply softmax twice');
    this.fromLogits = fromLogits;
  }

  /** The targets the loss sees: `t` itself, or its label-smoothed copy (in a reused buffer). */
  private lossTargets(t: Float32Array, n: number, classes: number): Float32Array {
    const ls = this.labelSmoothing;
    if (ls === 0) return t;
    const out = this.batchBuffer('smoothed', n * classes);
    for (let i = 0; i < n * classes; i++) out[i] = t[i] * (1 - ls) + ls / classes;
    return out;
  }

  /** All variables (trainable and not) in Keras' order: layer by layer, kernel before bias. */
  getWeights(): Float32Array[] {
    return this.layers.flatMap((l) => l.weights.map((w) => w.value));
  }

  setWeights(values: Float32Array[]): void {
    const ws = this.layers.flatMap((l) => l.weights);
    if (values.length !== ws.length) throw new DigitsError(`setWeights: model has ${ws.length} weights, got ${values.length}`);
    ws.forEach((w, i) => {
      if (values[i].length !== w.value.length)
        throw new DigitsError(`setWeights: ${w.name} needs ${w.value.length} values, got ${values[i].length}`);
      w.value.set(values[i]);
    });
  }

  /**
   * Forward pass over n samples; returns the output buffer of the last layer. A ReLU conv on the
   * image followed by 2x2 max-pooling runs as one kernel (Conv2D.poolFusable). `done(i)` is called as
   * each layer finishes (profilers time with it; the fused pair reports at once).
   */
  forward(x: Float32Array, n: number, training: boolean, ctx: RunContext = this.context(), done?: (layer: number) => void): Float32Array {
    this.build();
    let h = x;
    if (this.inputScale !== 1) {
      h = this.batchBuffer('scaled', x.length);
      for (let i = 0; i < x.length; i++) h[i] = x[i] * this.inputScale;
    }
    for (let i = 0; i < this.layers.length; i++) {
      const l = this.layers[i],
        next = this.layers[i + 1];
      if (l instanceof Conv2D && next instanceof MaxPooling2D && l.poolFusable(next)) {
        h = l.forwardPooled(h, n, next, ctx);
        done?.(i);
        i++;
      } else {
        h = l.forward(h, n, training, ctx);
      }
      done?.(i);
    }
    return h;
  }

  context(rng: Rng = this.rng): RunContext {
    return { k: this.kernels, rng };
  }

  /** One optimisation step on a batch; returns the summed loss and the number of correct predictions. */
  trainOnBatch(x: Float32Array, t: Float32Array, n: number, ctx: RunContext = this.context()): { loss: number; correct: number } {
    if (!this.optimizer) throw new UsageError('fit: compile the model first');
    const out = this.forward(x, n, true, ctx);
    const classes = sizeOf(this.outputShape);
    const last = this.layers[this.layers.length - 1];
    const fused = fusesSoftmax(this.loss) && last instanceof Activated && last.activation === 'softmax';
    const grad = this.gradBuffer(out.length);
    const loss = lossForward(this.kernels, this.loss, n, classes, out, this.lossTargets(t, n, classes), grad, fused, this.fromLogits);
    const correct = countCorrect(out, t, n, classes);
    // nothing reads the first layer's input gradient; for a conv on the image it costs as much as its weight gradient
    const first = this.layers[0];
    first.needInputGrad = false;
    try {
      this.backward(grad, n, ctx, fused);
    } finally {
      first.needInputGrad = true;
    }
    this.optimizer.step(this.kernels, (this.allWeights ??= this.layers.flatMap((l) => l.weights)));
    return { loss, correct };
  }

  /**
   * Backpropagates `grad` (w.r.t. the output, or w.r.t. the last layer's pre-activation when
   * `fromLogits`) through every layer, last to first, filling the weights' gradients; returns the
   * gradient w.r.t. the input. `done(i)` is called as each layer finishes (profilers time with it).
   */
  backward(grad: Float32Array, n: number, ctx: RunContext, fromLogits: boolean, done?: (layer: number) => void): Float32Array {
    const last = this.layers.length - 1;
    let g = fromLogits ? (this.layers[last] as Activated).backwardFromLogits(grad, n, ctx) : this.layers[last].backward(grad, n, ctx);
    done?.(last);
    for (let i = last - 1; i >= 0; i--) {
      const l = this.layers[i],
        before = this.layers[i - 1];
      // ReLU then max-pooling (every seed CNN): the pool's backward masks its winners by y > 0, which
      // is the ReLU's backward, and saves a pass over the largest activation of the model.
      if (before instanceof Conv2D && before.pooledBy === l && !before.needInputGrad) {
        // the pair ran fused forward (only ever on the image, where no input gradient is wanted)
        g = before.backwardPooled(g, ctx);
        done?.(i);
        i--;
        done?.(i);
      } else if (l instanceof MaxPooling2D && before instanceof Activated && before.activation === 'relu') {
        g = l.backward(g, n, ctx, true);
        done?.(i);
        g = before.backwardFromLogits(g, n, ctx);
        i--; // not inside done?.(…): an absent callback skips evaluating its arguments
        done?.(i);
      } else {
        g = l.backward(g, n, ctx);
        done?.(i);
      }
    }
    return g;
  }

  /** Every layer's weights in Keras order; fixed once the model is built. */
  private allWeights?: Weight[];
  private gradBuf: Float32Array = new Float32Array(0);
  private gradBuffer(size: number): Float32Array {
    if (this.gradBuf.length !== size) this.gradBuf = new Float32Array(size);
    return this.gradBuf;
  }

  fit(x: Tensor, y: Tensor, args: FitArgs = {}): History {
    const run = this.fitSteps(x, y, args);
    for (;;) {
      const r = run.next();
      if (r.done) return r.value;
    }
  }

  /** fit that lets the event loop run between batches, so signal handlers and timers fire during training. */
  async fitAsync(x: Tensor, y: Tensor, args: FitArgs = {}): Promise<History> {
    const run = this.fitSteps(x, y, args);
    for (let last = Date.now(); ;) {
      const r = run.next();
      if (r.done) return r.value;
      if (Date.now() - last >= 20) {
        await new Promise((res) => setImmediate(res));
        last = Date.now();
      }
    }
  }

  /** The fit loop; yields after every batch. */
  private *fitSteps(x: Tensor, y: Tensor, args: FitArgs): Generator<void, History, void> {
    if (!this.optimizer) throw new UsageError('fit: compile the model first');
    const batchSize = args.batchSize ?? 32;
    const epochs = args.epochs ?? 1;
    const n = x.shape[0];
    checkData(this, x, y, 'fit');
    let trainEnd = n;
    let val: [Tensor, Tensor] | undefined = args.validationData;
    if (!val && args.validationSplit) {
      if (!(args.validationSplit > 0 && args.validationSplit < 1))
        throw new UsageError(`fit: validationSplit must be in (0, 1), got ${args.validationSplit}`);
      trainEnd = Math.floor(n * (1 - args.validationSplit));
      val = [slice(x, trainEnd, n), slice(y, trainEnd, n)];
    }
    if (trainEnd < 1) throw new UsageError('fit: no training samples left after the validation split');
    const rng = new Rng(args.seed ?? 0);
    const shuffleRng = rng.fork();
    const ctx = this.context(rng.fork());
    const augmentRng = rng.fork();
    const steps = Math.ceil(trainEnd / batchSize);
    const userCallbacks = args.callbacks ?? [];
    const callbacks = [...userCallbacks];
    const bar = (args.verbose ?? 1) > 0 ? new ProgressBar(steps, epochs) : null;
    if (bar) callbacks.unshift(bar);
    for (const c of callbacks) c.setModel?.(this);
    for (const c of callbacks) c.setParams?.({ epochs, steps, batchSize, samples: trainEnd });
    const history: History = { epoch: [], history: {} };
    const sampleSize = sizeOf(x.shape.slice(1));
    const classes = sizeOf(this.outputShape);
    this.stopTraining = false;
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
      this.stopTraining = resume.stopTraining;
    }
    const snapshot = (epoch: number, batch: number, order: Int32Array | null, loss: number, correct: number, seen: number): FitState => ({
      epoch,
      batch,
      order: batch > 0 ? order : null,
      sums: { loss, correct, seen },
      stopTraining: this.stopTraining,
      rngs: { shuffle: shuffleRng.getState(), dropout: ctx.rng.getState(), augment: augmentRng.getState() },
      history: { epoch: [...history.epoch], history: Object.fromEntries(Object.entries(history.history).map(([k, v]) => [k, [...v]])) },
      callbacks: userCallbacks.map((c) => c.getState?.() ?? null),
    });
    for (const c of callbacks) c.onTrainBegin?.();
    for (let epoch = resume?.epoch ?? args.initialEpoch ?? 0; epoch < epochs && !this.stopTraining; epoch++) {
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
        const xb = this.batchBuffer('x', bs * sampleSize);
        const tb = this.batchBuffer('t', bs * classes);
        gatherBatch(x, y, order, start, bs, sampleSize, classes, isSparse(this.loss) && integerLabels(y), xb, tb);
        args.augment?.(xb, bs, augmentRng);
        const r = this.trainOnBatch(xb, tb, bs, ctx);
        if (!Number.isFinite(r.loss))
          throw new DigitsError(`fit: loss became ${r.loss} at epoch ${epoch + 1}, batch ${b + 1}; lower the learning rate`);
        lossSum += r.loss;
        correct += r.correct;
        seen += bs;
        for (const c of callbacks) c.onBatchEnd?.(b, { loss: lossSum / seen, accuracy: correct / seen });
        const stop = ck?.interrupted?.() ?? false;
        if (stop || (b + 1 < steps && ck?.due?.())) {
          checkWeights(this, epoch, b);
          ck!.save(snapshot(epoch, b + 1, order, lossSum, correct, seen));
          // not onTrainEnd: training is paused, not over
          if (stop) return history;
        }
        yield;
      }
      checkWeights(this, epoch, steps - 1);
      const logs: Logs = { loss: lossSum / seen, accuracy: correct / seen };
      if (val) {
        const v = this.evaluate(val[0], val[1]);
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

  private batchBufs = new Map<string, Float32Array>();
  private batchBuffer(key: string, size: number): Float32Array {
    const id = `${key}:${size}`;
    let b = this.batchBufs.get(id);
    if (!b) {
      b = new Float32Array(size);
      this.batchBufs.set(id, b);
    }
    return b;
  }

  evaluate(x: Tensor, y: Tensor, args: { batchSize?: number } = {}): { loss: number; accuracy: number } {
    if (!this.loss) throw new UsageError('evaluate: compile the model first');
    checkData(this, x, y, 'evaluate');
    const n = x.shape[0];
    const classes = sizeOf(this.outputShape);
    const sampleSize = sizeOf(x.shape.slice(1));
    const bsMax = args.batchSize ?? 256;
    let loss = 0,
      correct = 0;
    for (let start = 0; start < n; start += bsMax) {
      const bs = Math.min(bsMax, n - start);
      const out = this.forward(x.data.subarray(start * sampleSize, (start + bs) * sampleSize), bs, false);
      const tb = this.batchBuffer('t', bs * classes);
      gatherBatch(x, y, null, start, bs, sampleSize, classes, isSparse(this.loss) && integerLabels(y), null, tb);
      loss += lossForward(this.kernels, this.loss, bs, classes, out, this.lossTargets(tb, bs, classes), null, false, this.fromLogits);
      correct += countCorrect(out, tb, bs, classes);
    }
    return { loss: loss / n, accuracy: correct / n };
  }

  predict(x: Tensor, args: { batchSize?: number } = {}): Tensor {
    this.build();
    const n = x.shape[0];
    const sampleSize = sizeOf(this.inputShape);
    if (sizeOf(x.shape.slice(1)) !== sampleSize)
      throw new UsageError(`predict: input samples have shape [${x.shape.slice(1)}], the model expects [${this.inputShape}]`);
    const classes = sizeOf(this.outputShape);
    const res = new Float32Array(n * classes);
    const bsMax = args.batchSize ?? 256;
    for (let start = 0; start < n; start += bsMax) {
      const bs = Math.min(bsMax, n - start);
      res.set(this.forward(x.data.subarray(start * sampleSize, (start + bs) * sampleSize), bs, false), start * classes);
    }
    return { shape: [n, ...this.outputShape], data: res };
  }

  /**
   * Whether outputs are logits rather than probabilities: compiled from_logits, or (uncompiled) a last
   * layer without an output activation.
   */
  outputsLogits(): boolean {
    if (this.loss) return this.fromLogits;
    const last = this.layers[this.layers.length - 1];
    return last instanceof Activated && last.activation === 'linear';
  }

  /** predict, as class probabilities: a softmax is applied to a logits model's outputs. */
  predictProba(x: Tensor, args: { batchSize?: number } = {}): Tensor {
    const out = this.predict(x, args);
    if (!this.outputsLogits()) return out;
    const classes = sizeOf(this.outputShape);
    this.kernels.softmaxForward(out.data.length / classes, classes, out.data, out.data);
    return out;
  }
}

function checkData(model: Sequential, x: Tensor, y: Tensor, where: string): void {
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
function integerLabels(y: Tensor): boolean {
  return sizeOf(y.shape.slice(1)) === 1;
}

function slice(t: Tensor, from: number, to: number): Tensor {
  const per = sizeOf(t.shape.slice(1));
  return { shape: [to - from, ...t.shape.slice(1)], data: t.data.subarray(from * per, to * per) };
}

/** Copy rows (in `order`, or in sequence) into the batch buffers; sparse labels become one-hot. */
function gatherBatch(
  x: Tensor,
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
  for (let i = 0; i < bs; i++) {
    const r = order ? order[start + i] : start + i;
    if (xb) xb.set(x.data.subarray(r * sampleSize, (r + 1) * sampleSize), i * sampleSize);
    if (sparse) tb[i * classes + y.data[r]] = 1;
    else tb.set(y.data.subarray(r * classes, (r + 1) * classes), i * classes);
  }
}

/** NaN/Inf weights stop training before they reach a checkpoint; one pass over the parameters is cheap. */
function checkWeights(model: Sequential, epoch: number, batch: number): void {
  for (const l of model.layers)
    for (const w of l.weights) {
      const bad = w.value.find((v) => !Number.isFinite(v));
      if (bad !== undefined)
        throw new DigitsError(
          `fit: weight ${l.name}/${w.name} became ${bad} at epoch ${epoch + 1}, batch ${batch + 1}; lower the learning rate`,
        );
    }
}

function countCorrect(out: Float32Array, t: Float32Array, n: number, classes: number): number {
  let c = 0;
  for (let r = 0; r < n; r++) if (argmaxRow(out, r, classes) === argmaxRow(t, r, classes)) c++;
  return c;
}
