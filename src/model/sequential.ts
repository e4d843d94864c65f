// Keras' Sequential: a stack of layers with compile / fit / evaluate / predict / summary.
import { getKernels, type Kernels } from '../kernels';
import { Activated } from '../layers/activation';
import { Conv2D } from '../layers/conv2d';
import { MaxPooling2D } from '../layers/pooling';
import type { Layer, RunContext, Weight } from '../layers/layer';
import { Rng } from '../rng';
import { argmaxRow, rowsOf, sizeOf, type Input, type Tensor } from '../tensor';
import { checkLoss, fusesSoftmax, isSparse, lossForward, type LossName } from './losses';
import { makeOptimizer, type Optimizer, type OptimizerConfig } from './optimizers';
import { backwardPlan, forwardPlan } from './fusion';
import { checkData, fit, fitAsync, gatherBatch, integerLabels, type FitArgs, type History } from './fit';
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

export type { FitArgs, FitCheckpoint, FitState, History } from './fit';

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
    for (const { at, fused } of forwardPlan(this.layers)) {
      const l = this.layers[at];
      if (fused) {
        h = (l as Conv2D).forwardPooled(h, n, this.layers[at + 1] as MaxPooling2D, ctx);
        done?.(at);
        done?.(at + 1);
      } else {
        h = l.forward(h, n, training, ctx);
        done?.(at);
      }
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
    let g = grad;
    for (const { at, kind } of backwardPlan(this.layers)) {
      const l = this.layers[at],
        before = this.layers[at - 1];
      switch (kind) {
        case 'output':
          g = fromLogits ? (l as Activated).backwardFromLogits(g, n, ctx) : l.backward(g, n, ctx);
          done?.(at);
          break;
        case 'layer':
          g = l.backward(g, n, ctx);
          done?.(at);
          break;
        case 'conv-pool':
          g = (before as Conv2D).backwardPooled(g, ctx);
          done?.(at);
          done?.(at - 1);
          break;
        case 'relu-pool':
          g = (l as MaxPooling2D).backward(g, n, ctx, true);
          done?.(at);
          g = (before as Activated).backwardFromLogits(g, n, ctx);
          done?.(at - 1);
          break;
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

  /** Keras' fit: the loop is src/model/fit.ts's, which runs on any model with the surface it names. */
  fit(x: Input, y: Tensor, args: FitArgs = {}): History {
    return fit(this, x, y, args);
  }

  /** fit that lets the event loop run between batches, so signal handlers and timers fire during training. */
  fitAsync(x: Input, y: Tensor, args: FitArgs = {}): Promise<History> {
    return fitAsync(this, x, y, args);
  }

  private batchBufs = new Map<string, Float32Array>();
  /** A buffer kept per key and size, reused from batch to batch (the fit loop's batches, targets, scaled inputs). */
  batchBuffer(key: string, size: number): Float32Array {
    const id = `${key}:${size}`;
    let b = this.batchBufs.get(id);
    if (!b) {
      b = new Float32Array(size);
      this.batchBufs.set(id, b);
    }
    return b;
  }

  /** Rows of an input as floats (a byte tensor's converted into a reused buffer). */
  private inputRows(x: Input, from: number, to: number): Float32Array {
    return rowsOf(x, from, to, () => this.batchBuffer('input', to - from));
  }

  evaluate(x: Input, y: Tensor, args: { batchSize?: number } = {}): { loss: number; accuracy: number } {
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
      const out = this.forward(this.inputRows(x, start * sampleSize, (start + bs) * sampleSize), bs, false);
      const tb = this.batchBuffer('t', bs * classes);
      gatherBatch(x, y, null, start, bs, sampleSize, classes, isSparse(this.loss) && integerLabels(y), null, tb);
      loss += lossForward(this.kernels, this.loss, bs, classes, out, this.lossTargets(tb, bs, classes), null, false, this.fromLogits);
      correct += countCorrect(out, tb, bs, classes);
    }
    return { loss: loss / n, accuracy: correct / n };
  }

  predict(x: Input, args: { batchSize?: number } = {}): Tensor {
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
      res.set(this.forward(this.inputRows(x, start * sampleSize, (start + bs) * sampleSize), bs, false), start * classes);
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
  predictProba(x: Input, args: { batchSize?: number } = {}): Tensor {
    const out = this.predict(x, args);
    if (!this.outputsLogits()) return out;
    const classes = sizeOf(this.outputShape);
    this.kernels.softmaxForward(out.data.length / classes, classes, out.data, out.data);
    return out;
  }
}

function countCorrect(out: Float32Array, t: Float32Array, n: number, classes: number): number {
  let c = 0;
  for (let r = 0; r < n; r++) if (argmaxRow(out, r, classes) === argmaxRow(t, r, classes)) c++;
  return c;
}
