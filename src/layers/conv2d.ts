import type { ConvGeom } from '../kernels/kernels';
import type { Rng } from '../rng';
import { Activated } from './activation';
import type { MaxPooling2D } from './pooling';
import { glorotUniform, pair, padGeometry, weight, type LayerArgs, type RunContext, type Weight } from './layer';
import { UsageError } from '../errors';

export interface Conv2DArgs extends LayerArgs {
  filters: number;
  kernelSize: number | [number, number];
  strides?: number | [number, number];
  padding?: 'valid' | 'same';
  activation?: string;
  useBias?: boolean;
}

export class Conv2D extends Activated {
  readonly className = 'Conv2D';
  filters: number;
  kernelSize: [number, number];
  strides: [number, number];
  padding: 'valid' | 'same';
  useBias: boolean;
  private g!: ConvGeom;
  private x: Float32Array = new Float32Array(0);

  constructor(args: Conv2DArgs) {
    super(args, 'Conv2D');
    this.filters = args.filters;
    this.kernelSize = pair(args.kernelSize, 'Conv2D: kernelSize');
    this.strides = pair(args.strides ?? 1, 'Conv2D: strides');
    this.padding = args.padding ?? 'valid';
    this.useBias = args.useBias ?? true;
    if (!(Number.isSafeInteger(this.filters) && this.filters > 0))
      throw new UsageError(`Conv2D: filters must be positive, got ${args.filters}`);
    if (this.padding !== 'valid' && this.padding !== 'same')
      throw new UsageError(`Conv2D: padding must be 'valid' or 'same', got '${args.padding}'`);
  }

  computeOutputShape(s: number[]): number[] {
    if (s.length !== 3) throw new UsageError(`${this.name}: Conv2D expects [height, width, channels] input, got [${s}]`);
    const r = padGeometry(s[0], this.kernelSize[0], this.strides[0], this.padding);
    const c = padGeometry(s[1], this.kernelSize[1], this.strides[1], this.padding);
    if (r.out < 1 || c.out < 1)
      throw new UsageError(`${this.name}: kernel ${this.kernelSize.join('x')} does not fit input ${s[0]}x${s[1]}`);
    return [r.out, c.out, this.filters];
  }

  protected override createWeights(rng: Rng): Weight[] {
    const [kh, kw] = this.kernelSize;
    const cin = this.inputShape[2];
    const w = [glorotUniform('kernel', [kh, kw, cin, this.filters], kh * kw * cin, kh * kw * this.filters, rng)];
    if (this.useBias) w.push(weight('bias', [this.filters], true));
    return w;
  }

  geometry(n: number): ConvGeom {
    const [h, w, c] = this.inputShape;
    const [oh, ow, f] = this.outputShape;
    const [kh, kw] = this.kernelSize;
    const [sh, sw] = this.strides;
    return {
      n,
      h,
      w,
      c,
      f,
      oh,
      ow,
      kh,
      kw,
      sh,
      sw,
      padTop: padGeometry(h, kh, sh, this.padding).before,
      padLeft: padGeometry(w, kw, sw, this.padding).before,
    };
  }

  protected forwardLinear(x: Float32Array, n: number, z: Float32Array, relu: boolean, ctx: RunContext): void {
    this.pooledBy = null;
    this.x = x;
    this.g = this.geometry(n);
    ctx.k.conv2dForward(this.g, x, this.weights[0].value, this.useBias ? this.weights[1].value : null, z, relu);
  }

  protected backwardLinear(dz: Float32Array, n: number, ctx: RunContext): Float32Array {
    const [kernel, bias] = this.weights;
    // a frozen layer (trainable false) has no gradients to fill
    if (kernel.grad) ctx.k.conv2dBackwardWeights(this.g, this.x, dz, kernel.grad, bias ? bias.grad : null);
    const dx = this.buffer('dx', this.x.length);
    if (this.needInputGrad) ctx.k.conv2dBackwardData(this.g, dz, kernel.value, dx);
    return dx;
  }

  /**
   * Whether this conv and the `pool` after it can run as one kernel each way
   * (Kernels.conv2dReluMaxPoolForward): a ReLU conv on a single-channel input at stride 1, pooled
   * 2x2 at stride 2 with 'valid' padding — the first two layers of every seed CNN but seed000/004.
   */
  poolFusable(pool: MaxPooling2D): boolean {
    return (
      this.activation === 'relu' &&
      this.inputShape[2] === 1 &&
      this.strides[0] === 1 &&
      this.strides[1] === 1 &&
      pool.poolSize[0] === 2 &&
      pool.poolSize[1] === 2 &&
      pool.strides[0] === 2 &&
      pool.strides[1] === 2 &&
      pool.padding === 'valid'
    );
  }

  /** Forward through this conv and `pool` at once; returns the pool's output. */
  forwardPooled(x: Float32Array, n: number, pool: MaxPooling2D, ctx: RunContext): Float32Array {
    this.x = x;
    this.g = this.geometry(n);
    this.pooledBy = pool;
    const [kernel, bias] = this.weights;
    return pool.forwardFrom(n * this.outputShape.reduce((a, b) => a * b, 1), n, (pg, y, ws) =>
      ctx.k.conv2dReluMaxPoolForward(this.g, pg, x, kernel.value, bias ? bias.value : null, y, ws),
    );
  }

  /**
   * The pool whose last forward ran fused with this conv (forwardPooled), else null: Sequential then
   * backpropagates the pair with backwardPooled, or (when the input gradient is wanted) through the
   * pool's dense gradient as usual — the conv's own backward never reads its unstored output.
   */
  pooledBy: MaxPooling2D | null = null;

  /** dW and dB from the gradient w.r.t. the pooled output; the input gradient is not computed. */
  backwardPooled(dy: Float32Array, ctx: RunContext): Float32Array {
    const [kernel, bias] = this.weights;
    const { g, y, workspace } = this.pooledBy!.saved;
    if (kernel.grad) ctx.k.conv2dReluMaxPoolBackwardWeights(this.g, g, this.x, dy, workspace, y, kernel.grad!, bias ? bias.grad : null);
    return this.buffer('dx', this.x.length);
  }

  getConfig() {
    return {
      filters: this.filters,
      kernelSize: this.kernelSize,
      strides: this.strides,
      padding: this.padding,
      activation: this.activation,
      useBias: this.useBias,
    };
  }
}
