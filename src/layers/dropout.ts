import { Layer, type LayerArgs, type RunContext } from './layer';
import { UsageError } from '../errors';

/** Inverted dropout: scale kept units by 1/(1−rate) while training, identity at inference. */
export class Dropout extends Layer {
  readonly className = 'Dropout';
  rate: number;
  private mask: Float32Array = new Float32Array(0);
  private active = false;

  constructor(args: LayerArgs & { rate: number }) {
    super(args);
    this.rate = args.rate;
    if (!(args.rate >= 0 && args.rate < 1)) throw new UsageError(`Dropout: rate must be in [0, 1), got ${args.rate}`);
  }

  computeOutputShape(s: number[]): number[] {
    return s;
  }

  forward(x: Float32Array, _n: number, training: boolean, ctx: RunContext): Float32Array {
    this.active = training && this.rate > 0;
    if (!this.active) return x;
    this.mask = this.buffer('mask', x.length);
    const y = this.buffer('y', x.length);
    // one draw per batch seeds the kernel's counter-based mask (the same on every backend)
    ctx.k.dropoutForward(x, y, this.mask, this.rate, ctx.rng.nextUint32());
    return y;
  }

  backward(dy: Float32Array, _n: number, ctx: RunContext): Float32Array {
    if (!this.active) return dy;
    const dx = this.buffer('dx', dy.length);
    ctx.k.dropoutBackward(dy, this.mask, dx);
    return dx;
  }

  getConfig() {
    return { rate: this.rate };
  }
}
