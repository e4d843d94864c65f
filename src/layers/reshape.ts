import { Layer, type LayerArgs } from './layer';
import { sizeOf } from '../tensor';
import { UsageError } from '../errors';

/** Keras Reshape: the same row-major values per sample under a new shape (one dimension may be -1). */
export class Reshape extends Layer {
  readonly className = 'Reshape';
  targetShape: number[];

  constructor(args: LayerArgs & { targetShape: number[] }) {
    super(args);
    const t = args.targetShape;
    if (
      !Array.isArray(t) ||
      t.length === 0 ||
      !t.every((d) => Number.isSafeInteger(d) && (d > 0 || d === -1)) ||
      t.filter((d) => d === -1).length > 1
    ) {
      throw new UsageError(`Reshape: target_shape must be positive integers with at most one -1, got ${JSON.stringify(t)}`);
    }
    this.targetShape = t;
  }

  computeOutputShape(s: number[]): number[] {
    const size = sizeOf(s),
      known = sizeOf(this.targetShape.filter((d) => d !== -1));
    const out = this.targetShape.map((d) => (d === -1 ? size / known : d));
    if (!out.every((d) => Number.isSafeInteger(d) && d > 0) || sizeOf(out) !== size) {
      throw new UsageError(`${this.name}: cannot reshape [${s}] (${size} values) to [${this.targetShape}]`);
    }
    return out;
  }

  forward(x: Float32Array): Float32Array {
    return x;
  }
  backward(dy: Float32Array): Float32Array {
    return dy;
  }
  getConfig() {
    return { targetShape: this.targetShape };
  }
}
