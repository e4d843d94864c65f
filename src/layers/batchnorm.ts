import { Layer, weight, type LayerArgs, type RunContext, type Weight } from './layer';

export interface BatchNormalizationArgs extends LayerArgs {
  momentum?: number;
  epsilon?: number;
}

/** Keras BatchNormalization over the last (channel) axis: gamma, beta trainable; moving stats not. */
export class BatchNormalization extends Layer {
  readonly className = 'BatchNormalization';
  momentum: number;
  epsilon: number;
  private x: Float32Array = new Float32Array(0);
  private rows = 0;

  constructor(args: BatchNormalizationArgs = {}) {
    super(args);
    this.momentum = args.momentum ?? 0.99;
    this.epsilon = args.epsilon ?? 1e-3;
  }

  computeOutputShape(s: number[]): number[] { return s; }

  protected override createWeights(): Weight[] {
    const c = this.channels;
    return [
      weight('gamma', [c], true, () => 1),
      weight('beta', [c], true),
      weight('moving_mean', [c], false),
      weight('moving_variance', [c], false, () => 1),
    ];
  }

  private get channels(): number { return this.inputShape[this.inputShape.length - 1]; }

  forward(x: Float32Array, _n: number, training: boolean, ctx: RunContext): Float32Array {
    const c = this.channels;
    const [gamma, beta, mean, variance] = this.weights;
    const y = this.buffer('y', x.length);
    this.rows = x.length / c;
    if (training) {
      this.x = x;
      ctx.k.batchNormForwardTraining(this.rows, c, x, gamma.value, beta.value, mean.value, variance.value,
        this.momentum, this.epsilon, y, this.buffer('saveMean', c), this.buffer('saveInvStd', c));
    } else {
      ctx.k.batchNormForwardInference(this.rows, c, x, gamma.value, beta.value, mean.value, variance.value, this.epsilon, y);
    }
    return y;
  }

  backward(dy: Float32Array, _n: number, ctx: RunContext): Float32Array {
    const c = this.channels;
    const [gamma, beta] = this.weights;
    const dx = this.buffer('dx', dy.length);
    ctx.k.batchNormBackward(this.rows, c, this.x, dy, gamma.value, this.buffer('saveMean', c), this.buffer('saveInvStd', c),
      dx, gamma.grad!, beta.grad!);
    return dx;
  }

  getConfig() { return { momentum: this.momentum, epsilon: this.epsilon }; }
}
