// Keras' activation layers with parameters (keras.layers.ReLU, LeakyReLU, ELU, Softmax): each is an
// element-wise activation of the Activated family, so the kernels and the fused backward are shared.
import { Activated } from './activation';
import { float32Param, type LayerArgs, type RunContext } from './layer';
import { UsageError } from '../errors';

abstract class ActivationLayerBase extends Activated {
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
}

/** ReLU(max_value, negative_slope, threshold): the cases that are relu, relu6 and leaky_relu. */
export class ReLU extends ActivationLayerBase {
  readonly className = 'ReLU';
  maxValue: number | null;
  negativeSlope: number;
  threshold: number;
  constructor(args: LayerArgs & { maxValue?: number | null; negativeSlope?: number; threshold?: number } = {}) {
    const maxValue = args.maxValue == null ? null : float32Param('ReLU', 'max_value', args.maxValue),
      slope = float32Param('ReLU', 'negative_slope', args.negativeSlope ?? 0),
      threshold = float32Param('ReLU', 'threshold', args.threshold ?? 0);
    const act =
      threshold !== 0 ? null : maxValue === null ? (slope === 0 ? 'relu' : 'leaky_relu') : maxValue === 6 && slope === 0 ? 'relu6' : null;
    if (!act)
      throw new UsageError(
        `ReLU: max_value ${maxValue}, negative_slope ${slope}, threshold ${threshold} is not supported (relu, relu6 or leaky relu only)`,
      );
    super({ ...args, activation: act }, 'ReLU');
    this.maxValue = maxValue;
    this.negativeSlope = slope;
    this.threshold = threshold;
    if (act === 'leaky_relu') this.alpha = slope;
  }
  getConfig() {
    return { maxValue: this.maxValue, negativeSlope: this.negativeSlope, threshold: this.threshold };
  }
}

/** LeakyReLU: Keras 2 and TF.js call the slope `alpha`, Keras 3 `negative_slope`; 0.3 by default in both. */
export class LeakyReLU extends ActivationLayerBase {
  readonly className = 'LeakyReLU';
  constructor(args: LayerArgs & { alpha?: number } = {}) {
    super({ ...args, activation: 'leaky_relu' }, 'LeakyReLU');
    this.alpha = float32Param('LeakyReLU', 'alpha', args.alpha ?? 0.3);
  }
  getConfig() {
    return { alpha: this.alpha };
  }
}

export class ELU extends ActivationLayerBase {
  readonly className = 'ELU';
  constructor(args: LayerArgs & { alpha?: number } = {}) {
    super({ ...args, activation: 'elu' }, 'ELU');
    this.alpha = float32Param('ELU', 'alpha', args.alpha ?? 1);
  }
  getConfig() {
    return { alpha: this.alpha };
  }
}

export class Softmax extends ActivationLayerBase {
  readonly className = 'Softmax';
  private readonly axis: number;
  constructor(args: LayerArgs & { axis?: number | number[] } = {}) {
    super({ ...args, activation: 'softmax' }, 'Softmax');
    const axis = ([] as number[]).concat(args.axis ?? -1);
    if (axis.length !== 1 || !Number.isInteger(axis[0]))
      throw new UsageError(`Softmax: axis ${JSON.stringify(args.axis)} is not supported (one axis, the last)`);
    this.axis = axis[0];
  }
  override computeOutputShape(s: number[]): number[] {
    // Keras counts the batch axis: on [batch, 10] the last axis is 1 as well as -1
    if (this.axis !== -1 && this.axis !== s.length)
      throw new UsageError(`${this.name}: Softmax over axis ${this.axis} is not supported (the last axis only)`);
    return s;
  }
  getConfig() {
    return { axis: -1 };
  }
}
