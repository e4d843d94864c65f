import type { Rng } from '../rng';
import { Activated } from './activation';
import { glorotUniform, weight, type LayerArgs, type RunContext, type Weight } from './layer';
import { UsageError } from '../errors';

export interface DenseArgs extends LayerArgs {
  units: number;
  activation?: string;
  useBias?: boolean;
}

export class Dense extends Activated {
  readonly className = 'Dense';
  useBias: boolean;
  private x: Float32Array = new Float32Array(0);
  private readonly unitCount: number;

  constructor(args: DenseArgs) {
    super(args, 'Dense');
    this.unitCount = args.units;
    this.useBias = args.useBias ?? true;
    if (!(Number.isSafeInteger(args.units) && args.units > 0)) throw new UsageError(`Dense: units must be positive, got ${args.units}`);
  }

  computeOutputShape(s: number[]): number[] {
    if (s.length !== 1) throw new UsageError(`${this.name}: Dense expects a flat input (add Flatten first), got [${s}]`);
    return [this.unitCount];
  }

  protected override createWeights(rng: Rng): Weight[] {
    const inF = this.inputShape[0];
    const w = [glorotUniform('kernel', [inF, this.unitCount], inF, this.unitCount, rng)];
    if (this.useBias) w.push(weight('bias', [this.unitCount], true));
    return w;
  }

  protected forwardLinear(x: Float32Array, n: number, z: Float32Array, relu: boolean, ctx: RunContext): void {
    this.x = x;
    ctx.k.denseForward(
      n,
      this.inputShape[0],
      this.unitCount,
      x,
      this.weights[0].value,
      this.useBias ? this.weights[1].value : null,
      z,
      relu,
    );
  }

  protected backwardLinear(dz: Float32Array, n: number, ctx: RunContext): Float32Array {
    const [kernel, bias] = this.weights;
    const inF = this.inputShape[0];
    // a frozen layer (trainable false) has no gradients to fill
    if (kernel.grad) ctx.k.denseBackwardWeights(n, inF, this.unitCount, this.x, dz, kernel.grad, bias ? bias.grad : null);
    const dx = this.buffer('dx', n * inF);
    if (this.needInputGrad) ctx.k.denseBackwardData(n, inF, this.unitCount, dz, kernel.value, dx);
    return dx;
  }

  getConfig() {
    return { units: this.unitCount, activation: this.activation, useBias: this.useBias };
  }
}
