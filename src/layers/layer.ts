// Layers are Keras-style config objects that also do their own forward and backward passes
// (layer-level backprop, as in Caffe): forward keeps what backward needs, backward fills the
// weights' gradients and returns the gradient with respect to the layer's input.
import { ELTWISE_KINDS, type Eltwise, type Kernels } from '../kernels/kernels';
import type { Rng } from '../rng';
import { sizeOf } from '../tensor';
import { DigitsError, UsageError } from '../errors';

export interface Weight {
  /** Keras name of the variable inside its layer: kernel, bias, gamma, beta, moving_mean, moving_variance. */
  name: string;
  shape: number[];
  value: Float32Array;
  /** null for non-trainable variables (BatchNormalization's moving statistics). */
  grad: Float32Array | null;
}

export interface RunContext {
  k: Kernels;
  /** Randomness for training-time layers (dropout masks); seeded by fit. */
  rng: Rng;
}

export interface LayerArgs {
  name?: string;
  /** Shape of one sample, without the batch axis; only the first layer of a model needs it. */
  inputShape?: number[];
}

export type ActivationName = Eltwise | 'softmax';
export const ACTIVATIONS: readonly ActivationName[] = ['relu', 'softmax', ...ELTWISE_KINDS.filter((k) => k !== 'relu')];

export abstract class Layer {
  abstract readonly className: string;
  name: string;
  inputShape: number[] = [];
  outputShape: number[] = [];
  weights: Weight[] = [];
  readonly declaredInputShape?: number[];
  /**
   * False while nothing consumes this layer's input gradient (the first layer during fit): backward
   * may then skip computing it and return a buffer of unspecified content.
   */
  needInputGrad = true;
  /** Keras' `trainable`: false freezes the weights (no gradients, never updated; counted as non-trainable). */
  trainable = true;
  private buffers = new Map<string, Float32Array>();

  constructor(args: LayerArgs = {}) {
    this.name = args.name ?? '';
    this.declaredInputShape = args.inputShape;
  }

  /** Fix the input shape, derive the output shape and create (initialised) weights. */
  build(inputShape: number[], rng: Rng): void {
    this.inputShape = inputShape;
    this.outputShape = this.computeOutputShape(inputShape);
    this.weights = this.createWeights(rng);
    if (!this.trainable) for (const w of this.weights) w.grad = null;
  }

  abstract computeOutputShape(inputShape: number[]): number[];
  protected createWeights(_rng: Rng): Weight[] {
    return [];
  }

  /** x holds n samples of inputShape; returns n samples of outputShape (a buffer the layer owns). */
  abstract forward(x: Float32Array, n: number, training: boolean, ctx: RunContext): Float32Array;
  /** dy is the gradient w.r.t. the last forward's output; returns the gradient w.r.t. its input. */
  abstract backward(dy: Float32Array, n: number, ctx: RunContext): Float32Array;

  /** Keras config (camelCase here; the saver converts to Keras' snake_case). */
  abstract getConfig(): Record<string, unknown>;

  countParams(): number {
    return this.weights.reduce((s, w) => s + w.value.length, 0);
  }
  trainableParams(): number {
    return this.weights.reduce((s, w) => s + (w.grad ? w.value.length : 0), 0);
  }

  /** A reusable buffer per (purpose, size): no allocation per step once batch sizes have been seen. */
  protected buffer(key: string, size: number): Float32Array {
    const id = `${key}:${size}`;
    let b = this.buffers.get(id);
    if (!b) {
      b = new Float32Array(size);
      this.buffers.set(id, b);
    }
    return b;
  }
}

let weightBudget = Infinity;

/**
 * Runs `fn` (a model build) allowing its layers at most `maxValues` weight values in all. A loaded
 * model.json could claim billions of weights; its weights file bounds what it can honestly need.
 */
export function withWeightBudget<T>(maxValues: number, fn: () => T): T {
  const saved = weightBudget;
  weightBudget = maxValues;
  try {
    return fn();
  } finally {
    weightBudget = saved;
  }
}

export function weight(name: string, shape: number[], trainable: boolean, fill?: (i: number) => number): Weight {
  const size = sizeOf(shape);
  if (!Number.isSafeInteger(size) || size < 0) throw new UsageError(`weight ${name}: invalid shape [${shape}]`);
  if (size > weightBudget)
    throw new DigitsError(`weight ${name} [${shape}] needs ${size} values, more than the weights data holds (${weightBudget} left)`);
  weightBudget -= size;
  const value = new Float32Array(size);
  if (fill) for (let i = 0; i < value.length; i++) value[i] = fill(i);
  return { name, shape, value, grad: trainable ? new Float32Array(value.length) : null };
}

/** Keras' default kernel initialiser: U(−l, l), l = √(6 / (fanIn + fanOut)). */
export function glorotUniform(name: string, shape: number[], fanIn: number, fanOut: number, rng: Rng): Weight {
  const limit = Math.sqrt(6 / (fanIn + fanOut));
  return weight(name, shape, true, () => rng.uniform(-limit, limit));
}

/** float32's largest finite value: a parameter beyond it is ±Infinity in the kernels, and 0 × Infinity is NaN. */
const FLOAT32_MAX = 3.4028234663852886e38;

/** Whether v is a number the kernels hold as a finite float32. */
export const isFloat32 = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && Math.abs(v) <= FLOAT32_MAX;

/** A layer's scalar parameter, as the kernels will hold it: a finite float32. */
export function float32Param(layer: string, name: string, v: unknown): number {
  if (!isFloat32(v))
    throw new UsageError(`${layer}: ${name} must be a float32 number, got ${typeof v === 'number' ? v : JSON.stringify(v)}`);
  return v;
}

/** A size or stride given as one positive integer or two. */
export function pair(v: number | [number, number], what: string): [number, number] {
  const p = typeof v === 'number' ? [v, v] : v;
  if (!Array.isArray(p) || p.length !== 2 || !p.every((d) => Number.isSafeInteger(d) && d > 0)) {
    throw new UsageError(`${what} must be a positive integer or a pair of them, got ${JSON.stringify(v)}`);
  }
  return p as [number, number];
}

/** TF's padding arithmetic: 'same' keeps ceil(in/stride) and puts the odd extra pad at the end. */
export function padGeometry(size: number, k: number, stride: number, padding: 'valid' | 'same'): { out: number; before: number } {
  if (padding === 'valid') return { out: Math.floor((size - k) / stride) + 1, before: 0 };
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + k - size, 0);
  return { out, before: Math.floor(total / 2) };
}
