// What the command files share: the output pair, option parsers, and the check that a model takes the
// dataset's images and classes.
import type { Sequential } from '../model/sequential';
import type { PresetData } from '../zoo/recipe';
import { sizeOf } from '../tensor';
import { DigitsError, UsageError } from '../errors';

export type Out = { stdout: (s: string) => void; stderr: (s: string) => void };

/** Where `loadModelArg` reports what it inferred about a model. */
export const noteTo = (out: Out) => (n: string) => out.stderr(`digits: note: ${n}\n`);

/** A preset's output: the ten digits, unless --classes says otherwise. */
export const PRESET_CLASSES = 10;

export function int(name: string, min: number) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new UsageError(`${name}: expected an integer ≥ ${min}, got '${v}'`);
    return n;
  };
}

export function num(name: string, lo: number, hi: number, closedHi = false) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < lo || (closedHi ? n > hi : n >= hi))
      throw new UsageError(`${name}: expected a number in [${lo}, ${hi}${closedHi ? ']' : ')'}, got '${v}'`);
    return n;
  };
}

export function checkModelFits(model: Sequential, d: PresetData, where: string): void {
  const want = sizeOf(model.inputShape),
    have = d.height * d.width;
  if (want !== have)
    throw new DigitsError(`${where}: the model takes [${model.inputShape}] inputs, the dataset has ${d.height}x${d.width} images`);
  const classes = sizeOf(model.outputShape);
  if (classes !== d.classes) throw new DigitsError(`${where}: the model has ${classes} outputs, the dataset has ${d.classes} classes`);
}
