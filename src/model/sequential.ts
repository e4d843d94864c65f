// Keras' Sequential: a stack of layers with compile / fit / evaluate / predict / summary.
import { getKernels, type Kernels } from '../kernels';
import { Activated } from '../layers/activation';
import type { Layer, RunContext } from '../layers/layer';
import { Rng } from '../rng';
import { argmaxRow, sizeOf, type Tensor } from '../tensor';
import { checkLoss, fusesSoftmax, isSparse, lossForward, type LossName } from '../train/losses';
import { makeOptimizer, type Optimizer, type OptimizerConfig } from '../train/optimizers';
import type { Callback, Logs } from '../train/callbacks';
import { ProgressBar } from '../train/progress';
import { summary } from './summary';
import { DigitsError, UsageError } from '../errors';

export interface CompileArgs {
  optimizer: Optimizer | string;
  optimizerConfig?: OptimizerConfig;
  loss: LossName | string;
  metrics?: string[];
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
}

export interface History {
  epoch: number[];
  history: Record<string, number[]>;
}

const SNAKE: Record<string, string> = {
  Conv2D: 'conv2d', Dense: 'dense', MaxPooling2D: 'max_pooling2d', Flatten: 'flatten', Dropout: 'dropout',
  BatchNormalization: 'batch_normalization', Activation: 'activation',
};

export class Sequential {
  name: string;
  layers: Layer[] = [];
  inputShape: number[] = [];
  optimizer!: Optimizer;
  loss!: LossName;
  metrics: string[] = [];
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
      const base = SNAKE[layer.className] ?? layer.className.toLowerCase();
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

  get outputShape(): number[] { return this.layers[this.layers.length - 1].outputShape; }

  countParams(): number { return this.layers.reduce((s, l) => s + l.countParams(), 0); }

  summary(): string { this.build(); return summary(this); }

  compile(args: CompileArgs): void {
    this.build();
    this.optimizer = typeof args.optimizer === 'string' ? makeOptimizer(args.optimizer, args.optimizerConfig) : args.optimizer;
    this.loss = checkLoss(args.loss);
    this.metrics = args.metrics ?? ['accuracy'];
  }

  /** All variables (trainable and not) in Keras' order: layer by layer, kernel before bias. */
  getWeights(): Float32Array[] { return this.layers.flatMap((l) => l.weights.map((w) => w.value)); }

  setWeights(values: Float32Array[]): void {
    const ws = this.layers.flatMap((l) => l.weights);
    if (values.length !== ws.length) throw new DigitsError(`setWeights: model has ${ws.length} weights, got ${values.length}`);
    ws.forEach((w, i) => {
      if (values[i].length !== w.value.length) throw new DigitsError(`setWeights: ${w.name} needs ${w.value.length} values, got ${values[i].length}`);
      w.value.set(values[i]);
    });
  }

  /** Forward pass over n samples; returns the output buffer of the last layer. */
  forward(x: Float32Array, n: number, training: boolean, ctx: RunContext = this.context()): Float32Array {
    this.build();
    let h = x;
    for (const l of this.layers) h = l.forward(h, n, training, ctx);
    return h;
  }

  context(rng: Rng = this.rng): RunContext { return { k: this.kernels, rng }; }

  /** One optimisation step on a batch; returns the summed loss and the number of correct predictions. */
  trainOnBatch(x: Float32Array, t: Float32Array, n: number, ctx: RunContext = this.context()): { loss: number; correct: number } {
    if (!this.optimizer) throw new UsageError('fit: compile the model first');
    const out = this.forward(x, n, true, ctx);
    const classes = sizeOf(this.outputShape);
    const last = this.layers[this.layers.length - 1];
    const fused = fusesSoftmax(this.loss) && last instanceof Activated && last.activation === 'softmax';
    const grad = this.gradBuffer(out.length);
    const loss = lossForward(this.kernels, this.loss, n, classes, out, t, grad, fused);
    const correct = countCorrect(out, t, n, classes);
    let g = fused ? (last as Activated).backwardFromLogits(grad, n, ctx) : last.backward(grad, n, ctx);
    for (let i = this.layers.length - 2; i >= 0; i--) g = this.layers[i].backward(g, n, ctx);
    this.optimizer.step(this.kernels, this.layers.flatMap((l) => l.weights));
    return { loss, correct };
  }

  private gradBuf: Float32Array = new Float32Array(0);
  private gradBuffer(size: number): Float32Array {
    if (this.gradBuf.length !== size) this.gradBuf = new Float32Array(size);
    return this.gradBuf;
  }

  fit(x: Tensor, y: Tensor, args: FitArgs = {}): History {
    if (!this.optimizer) throw new UsageError('fit: compile the model first');
    const batchSize = args.batchSize ?? 32;
    const epochs = args.epochs ?? 1;
    const n = x.shape[0];
    checkData(this, x, y, 'fit');
    let trainEnd = n;
    let val: [Tensor, Tensor] | undefined = args.validationData;
    if (!val && args.validationSplit) {
      if (!(args.validationSplit > 0 && args.validationSplit < 1)) throw new UsageError(`fit: validationSplit must be in (0, 1), got ${args.validationSplit}`);
      trainEnd = Math.floor(n * (1 - args.validationSplit));
      val = [slice(x, trainEnd, n), slice(y, trainEnd, n)];
    }
    if (trainEnd < 1) throw new UsageError('fit: no training samples left after the validation split');
    const rng = new Rng(args.seed ?? 0);
    const shuffleRng = rng.fork();
    const ctx = this.context(rng.fork());
    const augmentRng = rng.fork();
    const steps = Math.ceil(trainEnd / batchSize);
    const callbacks = [...(args.callbacks ?? [])];
    if ((args.verbose ?? 1) > 0) callbacks.unshift(new ProgressBar(steps, epochs));
    for (const c of callbacks) c.setModel?.(this);
    const history: History = { epoch: [], history: {} };
    const sampleSize = sizeOf(x.shape.slice(1));
    const classes = sizeOf(this.outputShape);
    this.stopTraining = false;
    for (const c of callbacks) c.onTrainBegin?.();
    for (let epoch = args.initialEpoch ?? 0; epoch < epochs && !this.stopTraining; epoch++) {
      for (const c of callbacks) c.onEpochBegin?.(epoch);
      const order = args.shuffle === false ? null : shuffleRng.permutation(trainEnd);
      let lossSum = 0, correct = 0, seen = 0;
      for (let b = 0; b < steps; b++) {
        const start = b * batchSize;
        const bs = Math.min(batchSize, trainEnd - start);
        const xb = this.batchBuffer('x', bs * sampleSize);
        const tb = this.batchBuffer('t', bs * classes);
        gatherBatch(x, y, order, start, bs, sampleSize, classes, isSparse(this.loss), xb, tb);
        args.augment?.(xb, bs, augmentRng);
        const r = this.trainOnBatch(xb, tb, bs, ctx);
        if (!Number.isFinite(r.loss)) throw new DigitsError(`fit: loss became ${r.loss} at epoch ${epoch + 1}, batch ${b + 1}; lower the learning rate`);
        lossSum += r.loss; correct += r.correct; seen += bs;
        for (const c of callbacks) c.onBatchEnd?.(b, { loss: lossSum / seen, accuracy: correct / seen });
      }
      const logs: Logs = { loss: lossSum / seen, accuracy: correct / seen };
      if (val) {
        const v = this.evaluate(val[0], val[1]);
        logs.val_loss = v.loss;
        logs.val_accuracy = v.accuracy;
      }
      for (const c of callbacks) c.onEpochEnd?.(epoch, logs);
      history.epoch.push(epoch);
      for (const [k, v] of Object.entries(logs)) (history.history[k] ??= []).push(v);
    }
    for (const c of callbacks) c.onTrainEnd?.(history.history);
    return history;
  }

  private batchBufs = new Map<string, Float32Array>();
  private batchBuffer(key: string, size: number): Float32Array {
    const id = `${key}:${size}`;
    let b = this.batchBufs.get(id);
    if (!b) { b = new Float32Array(size); this.batchBufs.set(id, b); }
    return b;
  }

  evaluate(x: Tensor, y: Tensor, args: { batchSize?: number } = {}): { loss: number; accuracy: number } {
    if (!this.loss) throw new UsageError('evaluate: compile the model first');
    checkData(this, x, y, 'evaluate');
    const n = x.shape[0];
    const classes = sizeOf(this.outputShape);
    const sampleSize = sizeOf(x.shape.slice(1));
    const bsMax = args.batchSize ?? 256;
    let loss = 0, correct = 0;
    for (let start = 0; start < n; start += bsMax) {
      const bs = Math.min(bsMax, n - start);
      const out = this.forward(x.data.subarray(start * sampleSize, (start + bs) * sampleSize), bs, false);
      const tb = this.batchBuffer('t', bs * classes);
      gatherBatch(x, y, null, start, bs, sampleSize, classes, isSparse(this.loss), null, tb);
      loss += lossForward(this.kernels, this.loss, bs, classes, out, tb, null, false);
      correct += countCorrect(out, tb, bs, classes);
    }
    return { loss: loss / n, accuracy: correct / n };
  }

  predict(x: Tensor, args: { batchSize?: number } = {}): Tensor {
    this.build();
    const n = x.shape[0];
    const sampleSize = sizeOf(this.inputShape);
    if (sizeOf(x.shape.slice(1)) !== sampleSize) throw new UsageError(`predict: input samples have shape [${x.shape.slice(1)}], the model expects [${this.inputShape}]`);
    const classes = sizeOf(this.outputShape);
    const res = new Float32Array(n * classes);
    const bsMax = args.batchSize ?? 256;
    for (let start = 0; start < n; start += bsMax) {
      const bs = Math.min(bsMax, n - start);
      res.set(this.forward(x.data.subarray(start * sampleSize, (start + bs) * sampleSize), bs, false), start * classes);
    }
    return { shape: [n, ...this.outputShape], data: res };
  }
}

function checkData(model: Sequential, x: Tensor, y: Tensor, where: string): void {
  model.build();
  if (sizeOf(x.shape.slice(1)) !== sizeOf(model.inputShape)) throw new UsageError(`${where}: input samples have shape [${x.shape.slice(1)}], the model expects [${model.inputShape}]`);
  if (x.shape[0] !== y.shape[0]) throw new UsageError(`${where}: ${x.shape[0]} inputs but ${y.shape[0]} targets`);
  const classes = sizeOf(model.outputShape);
  const perSample = sizeOf(y.shape.slice(1));
  if (isSparse(model.loss)) {
    if (perSample !== 1) throw new UsageError(`${where}: sparse_categorical_crossentropy takes integer labels of shape [n], got [${y.shape}]`);
  } else if (perSample !== classes) {
    throw new UsageError(`${where}: targets have ${perSample} values per sample, the model outputs ${classes} (one-hot labels, or use sparse_categorical_crossentropy)`);
  }
}

function slice(t: Tensor, from: number, to: number): Tensor {
  const per = sizeOf(t.shape.slice(1));
  return { shape: [to - from, ...t.shape.slice(1)], data: t.data.subarray(from * per, to * per) };
}

/** Copy rows (in `order`, or in sequence) into the batch buffers; sparse labels become one-hot. */
function gatherBatch(x: Tensor, y: Tensor, order: Int32Array | null, start: number, bs: number, sampleSize: number,
  classes: number, sparse: boolean, xb: Float32Array | null, tb: Float32Array): void {
  if (sparse) tb.fill(0);
  for (let i = 0; i < bs; i++) {
    const r = order ? order[start + i] : start + i;
    if (xb) xb.set(x.data.subarray(r * sampleSize, (r + 1) * sampleSize), i * sampleSize);
    if (sparse) tb[i * classes + y.data[r]] = 1;
    else tb.set(y.data.subarray(r * classes, (r + 1) * classes), i * classes);
  }
}

function countCorrect(out: Float32Array, t: Float32Array, n: number, classes: number): number {
  let c = 0;
  for (let r = 0; r < n; r++) if (argmaxRow(out, r, classes) === argmaxRow(t, r, classes)) c++;
  return c;
}
