import { Layer, weight, type LayerArgs, type RunContext, type Weight } from './layer';

export interface BatchNormalizationArgs extends LayerArgs {
  momentum?: number;
  epsilon?: number;
  /** Keras' center / scale: false drops beta / gamma (the layer then adds 0 / multiplies by 1). */
  center?: boolean;
  scale?: boolean;
}

/**
 * Keras BatchNormalization over the last (channel) axis: gamma, beta trainable; moving stats not. Frozen
 * (trainable false) it runs in inference mode even while the model trains, as Keras does since TF 2.0.
 */
export class BatchNormalization extends Layer {
  readonly className = 'BatchNormalization';
  momentum: number;
  epsilon: number;
  center: boolean;
  scale: boolean;
  private x: Float32Array = new Float32Array(0);
  private rows = 0;

  constructor(args: BatchNormalizationArgs = {}) {
    super(args);
    this.momentum = args.momentum ?? 0.99;
    this.epsilon = args.epsilon ?? 1e-3;
    this.center = args.center ?? true;
    this.scale = args.scale ?? true;
  }

  computeOutputShape(s: number[]): number[] {
    return s;
  }

  protected override createWeights(): Weight[] {
    const c = this.channels;
    return [
      ...(this.scale ? [weight('gamma', [c], true, () => 1)] : []),
      ...(this.center ? [weight('beta', [c], true)] : []),
      weight('moving_mean', [c], false),
      weight('moving_variance', [c], false, () => 1),
    ];
  }

  private get channels(): number {
    return this.inputShape[this.inputShape.length - 1];
  }

  /** gamma, beta (constants 1 and 0 when the layer has none), moving mean and variance. */
  private get params(): { gamma: Weight; beta: Weight; mean: Weight; variance: Weight } {
    const byName = (n: string) => this.weights.find((w) => w.name === n);
    const c = this.channels;
    const constant = (name: string, v: number): Weight => ({
      name,
      shape: [c],
      value: this.buffer(name, c).fill(v),
      grad: this.buffer(`d${name}`, c),
    });
    return {
      gamma: byName('gamma') ?? constant('gamma', 1),
      beta: byName('beta') ?? constant('beta', 0),
      mean: byName('moving_mean')!,
      variance: byName('moving_variance')!,
    };
  }

  forward(x: Float32Array, _n: number, training: boolean, ctx: RunContext): Float32Array {
    const c = this.channels;
    const { gamma, beta, mean, variance } = this.params;
    const y = this.buffer('y', x.length);
    this.rows = x.length / c;
    if (training && this.trainable) {
      this.x = x;
      ctx.k.batchNormForwardTraining(
        this.rows,
        c,
        x,
        gamma.value,
        beta.value,
        mean.value,
        variance.value,
        this.momentum,
        this.epsilon,
        y,
        this.buffer('saveMean', c),
        this.buffer('saveInvStd', c),
      );
    } else {
      ctx.k.batchNormForwardInference(this.rows, c, x, gamma.value, beta.value, mean.value, variance.value, this.epsilon, y);
    }
    return y;
  }

  backward(dy: Float32Array, _n: number, ctx: RunContext): Float32Array {
    const c = this.channels;
    const { gamma, beta, variance } = this.params;
    const dx = this.buffer('dx', dy.length);
    if (!this.trainable) {
      // inference mode is a fixed per-channel affine: dx = dy · gamma / √(moving variance + ε)
      for (let i = 0; i < dy.length; i++) {
        const k = i % c;
        dx[i] = (dy[i] * gamma.value[k]) / Math.sqrt(variance.value[k] + this.epsilon);
      }
      return dx;
    }
    ctx.k.batchNormBackward(
      this.rows,
      c,
      this.x,
      dy,
      gamma.value,
      this.buffer('saveMean', c),
      this.buffer('saveInvStd', c),
      dx,
      gamma.grad!,
      beta.grad!,
    );
    return dx;
  }

  getConfig() {
    return { momentum: this.momentum, epsilon: this.epsilon, center: this.center, scale: this.scale };
  }
}
