import type { PoolGeom } from '../kernels/kernels';
import { Layer, pair, padGeometry, type LayerArgs, type RunContext } from './layer';
import { UsageError } from '../errors';

export interface Pooling2DArgs extends LayerArgs {
  poolSize?: number | [number, number];
  /** Keras default: the pool size. */
  strides?: number | [number, number] | null;
  padding?: 'valid' | 'same';
}

/** Window geometry shared by max and average pooling (TF's: 'same' pads the odd extra cell at the end). */
abstract class Pooling2D extends Layer {
  poolSize: [number, number];
  strides: [number, number];
  padding: 'valid' | 'same';
  protected g!: PoolGeom;
  protected inputSize = 0;

  constructor(args: Pooling2DArgs, what: string) {
    super(args);
    this.poolSize = pair(args.poolSize ?? 2, `${what}: poolSize`);
    this.strides = pair(args.strides ?? this.poolSize, `${what}: strides`);
    this.padding = args.padding ?? 'valid';
    if (this.padding !== 'valid' && this.padding !== 'same')
      throw new UsageError(`${what}: padding must be 'valid' or 'same', got '${args.padding}'`);
  }

  computeOutputShape(s: number[]): number[] {
    if (s.length !== 3) throw new UsageError(`${this.name}: ${this.className} expects [height, width, channels] input, got [${s}]`);
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
      n,
      h,
      w,
      c,
      oh,
      ow,
      ph,
      pw,
      sh,
      sw,
      padTop: padGeometry(h, ph, sh, this.padding).before,
      padLeft: padGeometry(w, pw, sw, this.padding).before,
    };
  }

  getConfig() {
    return { poolSize: this.poolSize, strides: this.strides, padding: this.padding };
  }
}

export class MaxPooling2D extends Pooling2D {
  readonly className = 'MaxPooling2D';
  private ws: Int32Array = new Int32Array(0);
  private y: Float32Array = new Float32Array(0);

  constructor(args: Pooling2DArgs = {}) {
    super(args, 'MaxPooling2D');
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
  get saved(): { g: PoolGeom; y: Float32Array; workspace: Int32Array } {
    return { g: this.g, y: this.y, workspace: this.ws };
  }

  /**
   * With `throughRelu` the gradient also goes back through the ReLU that produced this layer's input
   * (a winner that was not > 0 passes nothing), so that layer can skip its own activation backward.
   */
  backward(dy: Float32Array, _n: number, ctx: RunContext, throughRelu = false): Float32Array {
    const dx = this.buffer('dx', this.inputSize);
    ctx.k.maxPool2dBackward(this.g, dy, this.ws, dx, throughRelu ? this.y : null);
    return dx;
  }
}

/** Keras AveragePooling2D: the mean of the window's cells inside the input (padding is not counted, as in TF). */
export class AveragePooling2D extends Pooling2D {
  readonly className = 'AveragePooling2D';
  constructor(args: Pooling2DArgs = {}) {
    super(args, 'AveragePooling2D');
  }

  forward(x: Float32Array, n: number, _training: boolean, ctx: RunContext): Float32Array {
    this.g = this.geometry(n);
    this.inputSize = x.length;
    const y = this.buffer('y', n * this.outputShape[0] * this.outputShape[1] * this.outputShape[2]);
    ctx.k.avgPool2dForward(this.g, x, y);
    return y;
  }

  backward(dy: Float32Array, _n: number, ctx: RunContext): Float32Array {
    const dx = this.buffer('dx', this.inputSize);
    ctx.k.avgPool2dBackward(this.g, dy, dx);
    return dx;
  }
}

/**
 * Keras' GlobalAveragePooling2D / GlobalMaxPooling2D: one pooling window the size of the feature map,
 * so they reuse the pooling kernels; [h, w, c] → [c] ([1, 1, c] with keepdims, the same memory).
 */
abstract class GlobalPooling2D extends Layer {
  keepdims: boolean;
  protected g!: PoolGeom;
  protected inputSize = 0;
  constructor(args: LayerArgs & { keepdims?: boolean } = {}) {
    super(args);
    this.keepdims = args.keepdims ?? false;
  }
  computeOutputShape(s: number[]): number[] {
    if (s.length !== 3) throw new UsageError(`${this.name}: ${this.className} expects [height, width, channels] input, got [${s}]`);
    return this.keepdims ? [1, 1, s[2]] : [s[2]];
  }
  geometry(n: number): PoolGeom {
    const [h, w, c] = this.inputShape;
    return { n, h, w, c, oh: 1, ow: 1, ph: h, pw: w, sh: h, sw: w, padTop: 0, padLeft: 0 };
  }
  getConfig() {
    return { keepdims: this.keepdims };
  }
}

export class GlobalAveragePooling2D extends GlobalPooling2D {
  readonly className = 'GlobalAveragePooling2D';
  forward(x: Float32Array, n: number, _training: boolean, ctx: RunContext): Float32Array {
    this.g = this.geometry(n);
    this.inputSize = x.length;
    const y = this.buffer('y', n * this.inputShape[2]);
    ctx.k.avgPool2dForward(this.g, x, y);
    return y;
  }
  backward(dy: Float32Array, _n: number, ctx: RunContext): Float32Array {
    const dx = this.buffer('dx', this.inputSize);
    ctx.k.avgPool2dBackward(this.g, dy, dx);
    return dx;
  }
}

export class GlobalMaxPooling2D extends GlobalPooling2D {
  readonly className = 'GlobalMaxPooling2D';
  private ws: Int32Array = new Int32Array(0);
  forward(x: Float32Array, n: number, _training: boolean, ctx: RunContext): Float32Array {
    this.g = this.geometry(n);
    this.inputSize = x.length;
    const y = this.buffer('y', n * this.inputShape[2]);
    if (this.ws.length !== y.length) this.ws = new Int32Array(y.length);
    ctx.k.maxPool2dForward(this.g, x, y, this.ws);
    return y;
  }
  backward(dy: Float32Array, _n: number, ctx: RunContext): Float32Array {
    const dx = this.buffer('dx', this.inputSize);
    ctx.k.maxPool2dBackward(this.g, dy, this.ws, dx);
    return dx;
  }
}
