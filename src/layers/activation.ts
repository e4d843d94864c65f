// Activations shared by Dense, Conv2D and the Activation layer. ReLU is fused into the conv / dense
// kernels (a oneDNN post-op natively); the others run as separate element-wise or softmax kernels.
import type { Kernels } from '../kernels/kernels';
import { Layer, type ActivationName, type LayerArgs, type RunContext, ACTIVATIONS } from './layer';
import { UsageError } from '../errors';

/** Keras names one activation twice: 'silu' is what Keras 3 saves for swish. */
const ALIASES: Record<string, ActivationName> = { silu: 'swish' };

export function checkActivation(a: string | undefined, where: string): ActivationName {
  const v = (ALIASES[a ?? ''] ?? a ?? 'linear') as ActivationName;
  if (!ACTIVATIONS.includes(v))
    throw new UsageError(`${where}: unknown activation '${a}' (expected one of ${ACTIVATIONS.join(', ')}, or silu)`);
  return v;
}

/**
 * y = act(z) over [rows, cols]; relu is expected to have been fused already (y === z allowed). alpha
 * is elu's, leaky_relu's or hard_sigmoid's parameter (undefined or NaN: the kernel's default).
 */
export function activationForward(
  k: Kernels,
  act: ActivationName,
  rows: number,
  cols: number,
  z: Float32Array,
  y: Float32Array,
  alpha?: number,
): void {
  if (act === 'softmax') k.softmaxForward(rows, cols, z, y);
  else if (act !== 'relu' && act !== 'linear') k.eltwiseForward(act, z, y, alpha);
  else if (y !== z) y.set(z);
}

/** dz = dy · act'(z), from the forward's z and y (for a fused relu, z may be y). */
export function activationBackward(
  k: Kernels,
  act: ActivationName,
  rows: number,
  cols: number,
  z: Float32Array,
  y: Float32Array,
  dy: Float32Array,
  dz: Float32Array,
  alpha?: number,
): void {
  if (act === 'softmax') k.softmaxBackward(rows, cols, y, dy, dz);
  else if (act === 'linear') {
    if (dz !== dy) dz.set(dy);
  } else k.eltwiseBackward(act, z, y, dy, dz, alpha);
}

/**
 * A layer that ends in an activation. Subclasses compute the pre-activation z (fusing ReLU) and
 * backpropagate from dz; this class adds the activation in between, and lets the model hand in
 * dz directly when softmax and cross-entropy are fused.
 */
export abstract class Activated extends Layer {
  activation: ActivationName;
  /** elu's, leaky_relu's or hard_sigmoid's parameter; NaN takes the kernel's default (see ELTWISE_ALPHA). */
  alpha = NaN;
  protected y: Float32Array = new Float32Array(0);
  /** The last forward's pre-activation (y itself for relu and linear), which most activations' backward reads. */
  protected z: Float32Array = new Float32Array(0);

  constructor(args: LayerArgs & { activation?: string }, where: string) {
    super(args);
    this.activation = checkActivation(args.activation, where);
  }

  protected get units(): number {
    return this.outputShape[this.outputShape.length - 1];
  }

  /** Pre-activation into `z`, with ReLU fused when relu is true. */
  protected abstract forwardLinear(x: Float32Array, n: number, z: Float32Array, relu: boolean, ctx: RunContext): void;
  protected abstract backwardLinear(dz: Float32Array, n: number, ctx: RunContext): Float32Array;

  forward(x: Float32Array, n: number, _training: boolean, ctx: RunContext): Float32Array {
    const size = n * this.outputShape.reduce((a, b) => a * b, 1);
    const relu = this.activation === 'relu';
    const plain = relu || this.activation === 'linear';
    const z = this.buffer(plain ? 'y' : 'z', size);
    this.forwardLinear(x, n, z, relu, ctx);
    const y = plain ? z : this.buffer('y', size);
    if (!plain) activationForward(ctx.k, this.activation, size / this.units, this.units, z, y, this.alpha);
    this.z = z;
    this.y = y;
    return y;
  }

  backward(dy: Float32Array, n: number, ctx: RunContext): Float32Array {
    if (this.activation === 'linear') return this.backwardLinear(dy, n, ctx);
    const dz = this.buffer('dz', dy.length);
    activationBackward(ctx.k, this.activation, dy.length / this.units, this.units, this.z, this.y, dy, dz, this.alpha);
    return this.backwardLinear(dz, n, ctx);
  }

  /**
   * Backward from the gradient w.r.t. the pre-activation: for fused softmax + cross-entropy, and for
   * a ReLU whose backward the following max-pooling already did.
   */
  backwardFromLogits(dz: Float32Array, n: number, ctx: RunContext): Float32Array {
    return this.backwardLinear(dz, n, ctx);
  }
}

export class ActivationLayer extends Activated {
  readonly className = 'Activation';
  constructor(args: LayerArgs & { activation: string }) {
    super(args, 'Activation');
  }
  computeOutputShape(s: number[]): number[] {
    return s;
  }
  protected forwardLinear(x: Float32Array, _n: number, z: Float32Array, relu: boolean, ctx: RunContext): void {
    if (relu) ctx.k.eltwiseForward('relu', x, z);
    else z.set(x);
  }
  protected backwardLinear(dz: Float32Array): Float32Array {
    return dz;
  }
  getConfig() {
    return { activation: this.activation };
  }
}
