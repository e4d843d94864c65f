import { Layer, type LayerArgs } from './layer';

/** NHWC is already row-major per sample, so flattening is free: same memory, new shape. */
export class Flatten extends Layer {
  readonly className = 'Flatten';
  constructor(args: LayerArgs = {}) {
    super(args);
  }
  computeOutputShape(s: number[]): number[] {
    return [s.reduce((a, b) => a * b, 1)];
  }
  forward(x: Float32Array): Float32Array {
    return x;
  }
  backward(dy: Float32Array): Float32Array {
    return dy;
  }
  getConfig() {
    return {};
  }
}
