import type { PoolGeom } from '../kernels/kernels';
import { Layer, pair, padGeometry, type LayerArgs, type RunContext } from './layer';
import { UsageError } from '../errors';

export interface MaxPooling2DArgs extends LayerArgs {
  poolSize?: number | [number, number];
  /** Keras default: the pool size. */
  strides?: number | [number, number] | null;
  padding?: 'valid' | 'same';
}

export class MaxPooling2D extends Layer {
  readonly className = 'MaxPooling2D';
  poolSize: [number, number];
  strides: [number, number];
  padding: 'valid' | 'same';
  private g!: PoolGeom;
  private ws: Int32Array = new Int32Array(0);
  private inputSize = 0;
  private y: Float32Array = new Float32Array(0);

  constructor(args: MaxPooling2DArgs = {}) {
    super(args);
    this.poolSize = pair(args.poolSize ?? 2, 'MaxPooling2D: poolSize');
    this.strides = pair(args.strides ?? this.poolSize, 'MaxPooling2D: strides');
    this.padding = args.padding ?? 'valid';
    if (this.padding !== 'valid' && this.padding !== 'same') throw new UsageError(`MaxPooling2D: padding must be 'valid' or 'same', got '${args.padding}'`);
  }

  computeOutputShape(s: number[]): number[] {
    if (s.length !== 3) throw new UsageError(`${this.name}: MaxPooling2D expects [height, width, channels] input, got [${s}]`);
    const r = padGeometry(s[0], this.poolSize[0], this.strides[0], this.padding);
    const c = padGeometry(s[1], this.poolSize[1], this.strides[1], this.padding);
    if (r.out < 1 || c.out < 1) throw new UsageError(`${this.name}: pool ${this.poolSize.join('x')} does not fit input ${s[0]}x${s[1]}`);
    return [r.out, c.out, s[2]];
  }

  geometry(n: number): PoolGeom {
    const [h, w, c] = this.inputShape;
    const [oh, ow] = this.outputShape;
    const [ph, pw] = this.poolSize;
    const [sh, sw] = this.strides;
    return {
      n, h, w, c, oh, ow, ph, pw, sh, sw,
      padTop: padGeometry(h, ph, sh, this.padding).before,
      padLeft: padGeometry(w, pw, sw, this.padding).before,
    };
  }

  forward(x: Float32Array, n: number, _training: boolean, ctx: RunContext): Float32Array {
    this.g = this.geometry(n);
    const size = n * this.outputShape[0] * this.outputShape[1] * this.outputShape[2];
    const y = this.buffer('y', size);
    if (this.ws.length !== size) this.ws = new Int32Array(size);
    this.inputSize = x.length;
    ctx.k.maxPool2dForward(this.g, x, y, this.ws);
    this.y = y;
    return y;
  }

  /**
   * Forward for a ReLU conv fused into this pooling (Conv2D.forwardPooled): `run` fills y and the
   * workspace as forward() would from the conv's output, which is `inputSize` floats and never stored.
   */
  forwardFrom(inputSize: number, n: number, run: (g: PoolGeom, y: Float32Array, workspace: Int32Array) => void): Float32Array {
    this.g = this.geometry(n);
    const size = n * this.outputShape[0] * this.outputShape[1] * this.outputShape[2];
    const y = this.buffer('y', size);
    if (this.ws.length !== size) this.ws = new Int32Array(size);
    this.inputSize = inputSize;
    run(this.g, y, this.ws);
    this.y = y;
    return y;
  }

  /** What the last forward saved for a backward: geometry, output and winners. */
  get saved(): { g: PoolGeom; y: Float32Array; workspace: Int32Array } { return { g: this.g, y: this.y, workspace: this.ws }; }

  /**
   * With `throughRelu` the gradient also goes back through the ReLU that produced this layer's input
   * (a winner that was not > 0 passes nothing), so that layer can skip its own activation backward.
   */
  backward(dy: Float32Array, _n: number, ctx: RunContext, throughRelu = false): Float32Array {
    const dx = this.buffer('dx', this.inputSize);
    ctx.k.maxPool2dBackward(this.g, dy, this.ws, dx, throughRelu ? this.y : null);
    return dx;
  }

  getConfig() { return { poolSize: this.poolSize, strides: this.strides, padding: this.padding }; }
}
