import { isFloat32, Layer, type LayerArgs, type RunContext } from './layer';
import { UsageError } from '../errors';

/**
 * Keras Rescaling: y = x · scale + offset, typically 1/255 at the input of a model fed raw pixels. A
 * per-channel list is accepted; the affine is a few hundred operations per sample, so it stays here.
 */
export class Rescaling extends Layer {
  readonly className = 'Rescaling';
  scale: number | number[];
  offset: number | number[];

  constructor(args: LayerArgs & { scale: number | number[]; offset?: number | number[] }) {
    super(args);
    this.scale = args.scale;
    this.offset = args.offset ?? 0;
    for (const [k, v] of [
      ['scale', this.scale],
      ['offset', this.offset],
    ] as const) {
      if (!([] as unknown[]).concat(v).every(isFloat32))
        throw new UsageError(`Rescaling: ${k} must be a float32 number or a list of them, got ${JSON.stringify(v)}`);
    }
  }

  computeOutputShape(s: number[]): number[] {
    const c = s[s.length - 1];
    for (const [k, v] of [
      ['scale', this.scale],
      ['offset', this.offset],
    ] as const) {
      if (Array.isArray(v) && v.length !== 1 && v.length !== c)
        throw new UsageError(`${this.name}: ${k} has ${v.length} values, the input has ${c} channels`);
    }
    return s;
  }

  private perChannel(v: number | number[], c: number): Float32Array {
    return Float32Array.from({ length: c }, (_x, i) => (Array.isArray(v) ? v[v.length === 1 ? 0 : i] : v));
  }

  forward(x: Float32Array, _n: number, _training: boolean, _ctx: RunContext): Float32Array {
    const c = this.inputShape[this.inputShape.length - 1];
    const a = this.perChannel(this.scale, c),
      b = this.perChannel(this.offset, c);
    const y = this.buffer('y', x.length);
    for (let i = 0; i < x.length; i++) {
      const k = i % c;
      y[i] = x[i] * a[k] + b[k];
    }
    return y;
  }

  backward(dy: Float32Array): Float32Array {
    const c = this.inputShape[this.inputShape.length - 1];
    const a = this.perChannel(this.scale, c);
    const dx = this.buffer('dx', dy.length);
    for (let i = 0; i < dy.length; i++) dx[i] = dy[i] * a[i % c];
    return dx;
  }

  getConfig() {
    return { scale: this.scale, offset: this.offset };
  }
}
