// Keras optimizers (formulas and defaults of tf.keras 2.x). State lives in Float32Arrays parallel to
// the trainable weights so the native backend can update all parameters in one fused call.
import type { Kernels } from '../kernels/kernels';
import type { Weight } from '../layers/layer';
import { DigitsError, UsageError } from '../errors';

export type OptimizerName = 'sgd' | 'rmsprop' | 'adam' | 'adamw';
export const OPTIMIZERS: readonly OptimizerName[] = ['sgd', 'rmsprop', 'adam', 'adamw'];

export interface OptimizerConfig {
  learningRate?: number;
  momentum?: number;
  nesterov?: boolean; // sgd
  rho?: number; // rmsprop
  beta1?: number;
  beta2?: number; // adam, adamw
  weightDecay?: number; // adam, adamw (sgd and rmsprop have none here, though Keras 3 offers it on every optimizer)
  epsilon?: number;
}

export abstract class Optimizer {
  abstract readonly className: string;
  learningRate: number;
  iterations = 0;
  protected slots: Float32Array[][] = [];

  constructor(lr: number) {
    this.learningRate = lr;
  }

  // the parameter and gradient lists for the last weights list seen: a model passes the same list every
  // step, so the steady state allocates nothing
  private bound: { weights: Weight[]; params: Float32Array[]; grads: Float32Array[] } | null = null;

  step(k: Kernels, weights: Weight[]): void {
    if (this.bound?.weights !== weights) {
      const trainable = weights.filter((w) => w.grad);
      this.bound = { weights, params: trainable.map((w) => w.value), grads: trainable.map((w) => w.grad!) };
    }
    const { params, grads } = this.bound;
    if (this.slots.length === 0) this.slots = this.slotNames().map(() => params.map((p) => new Float32Array(p.length)));
    this.iterations++;
    this.apply(k, params, grads);
  }

  /** The per-weight state arrays this optimizer keeps, in the order of its state. */
  abstract slotNames(): string[];
  protected abstract apply(k: Kernels, params: Float32Array[], grads: Float32Array[]): void;
  abstract getConfig(): Record<string, unknown>;

  /** Slot arrays and step count, for checkpoints. */
  getState(): { iterations: number; slots: Float32Array[][] } {
    return { iterations: this.iterations, slots: this.slots };
  }
  setState(s: { iterations: number; slots: Float32Array[][] }): void {
    // slots exist once the first step has run; a wrong count would index past them in the update kernels
    const want = this.slotNames();
    if (s.slots.length !== 0 && s.slots.length !== want.length)
      throw new DigitsError(
        `${this.className}: state has ${s.slots.length} slot groups, expected ${want.length} (${want.join(', ') || 'none'})`,
      );
    this.iterations = s.iterations;
    this.slots = s.slots;
  }
}

export class SGD extends Optimizer {
  readonly className = 'SGD';
  momentum: number;
  nesterov: boolean;
  constructor(c: OptimizerConfig = {}) {
    super(c.learningRate ?? 0.01);
    this.momentum = c.momentum ?? 0;
    this.nesterov = c.nesterov ?? false;
  }
  slotNames() {
    return this.momentum ? ['momentum'] : [];
  }
  protected apply(k: Kernels, p: Float32Array[], g: Float32Array[]) {
    k.sgdUpdate(p, g, this.momentum ? this.slots[0] : null, this.learningRate, this.momentum, this.nesterov);
  }
  getConfig() {
    return { learning_rate: this.learningRate, momentum: this.momentum, nesterov: this.nesterov };
  }
}

export class RMSprop extends Optimizer {
  readonly className = 'RMSprop';
  rho: number;
  epsilon: number;
  constructor(c: OptimizerConfig = {}) {
    super(c.learningRate ?? 1e-3);
    this.rho = c.rho ?? 0.9;
    this.epsilon = c.epsilon ?? 1e-7;
  }
  slotNames() {
    return ['rms'];
  }
  protected apply(k: Kernels, p: Float32Array[], g: Float32Array[]) {
    k.rmspropUpdate(p, g, this.slots[0], this.learningRate, this.rho, this.epsilon);
  }
  getConfig() {
    return { learning_rate: this.learningRate, rho: this.rho, epsilon: this.epsilon };
  }
}

export class Adam extends Optimizer {
  readonly className: string = 'Adam';
  beta1: number;
  beta2: number;
  epsilon: number;
  /**
   * Decoupled weight decay, Keras 3's `weight_decay` (and PyTorch's AdamW):
   * before each step every trainable weight shrinks by lr·weight_decay of itself, outside the moments,
   * so the decay is not divided by √v as an L2 term in the loss would be. 0: plain Adam.
   */
  weightDecay: number;
  constructor(c: OptimizerConfig = {}) {
    super(c.learningRate ?? 1e-3);
    this.beta1 = c.beta1 ?? 0.9;
    this.beta2 = c.beta2 ?? 0.999;
    this.epsilon = c.epsilon ?? 1e-7;
    this.weightDecay = c.weightDecay ?? 0;
  }
  slotNames() {
    return ['m', 'v'];
  }
  protected apply(k: Kernels, p: Float32Array[], g: Float32Array[]) {
    k.adamUpdate(
      p,
      g,
      this.slots[0],
      this.slots[1],
      this.learningRate,
      this.beta1,
      this.beta2,
      this.epsilon,
      this.iterations,
      this.weightDecay,
    );
  }
  getConfig(): Record<string, unknown> {
    return {
      learning_rate: this.learningRate,
      beta_1: this.beta1,
      beta_2: this.beta2,
      epsilon: this.epsilon,
      ...(this.weightDecay > 0 && { weight_decay: this.weightDecay }),
    };
  }
}

/** Keras' AdamW: Adam with decoupled weight decay on by default (Keras' 0.004). */
export class AdamW extends Adam {
  override readonly className = 'AdamW';
  constructor(c: OptimizerConfig = {}) {
    super({ ...c, weightDecay: c.weightDecay ?? 0.004 });
  }
  override getConfig() {
    return { ...super.getConfig(), weight_decay: this.weightDecay };
  }
}

export function makeOptimizer(name: string, config: OptimizerConfig = {}): Optimizer {
  switch (name.toLowerCase()) {
    case 'sgd':
      return new SGD(config);
    case 'rmsprop':
      return new RMSprop(config);
    case 'adam':
      return new Adam(config);
    case 'adamw':
      return new AdamW(config);
    default:
      throw new UsageError(`optimizer: unknown optimizer '${name}' (expected one of ${OPTIMIZERS.join(', ')})`);
  }
}
