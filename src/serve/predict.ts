// Classifying preprocessed 28×28 digits; free of node modules, so the page runs it in the browser too.
import type { Sequential } from '../model/sequential';
import { sizeOf } from '../tensor';
import { DigitsError } from '../errors';
import { SIZE } from '../data/preprocess';

export interface Prediction {
  top: { digit: number; probability: number }[];
  probabilities: number[];
}

/** Refuses models that do not take 28×28×1 inputs and give 10 classes, naming `where`. */
export function checkDigitModel(model: Sequential, where: string): void {
  if (sizeOf(model.inputShape) !== SIZE * SIZE)
    throw new DigitsError(`${where}: the model takes [${model.inputShape}] inputs, not 28x28 digits`);
  if (sizeOf(model.outputShape) !== 10)
    throw new DigitsError(`${where}: the model has ${sizeOf(model.outputShape)} outputs, not 10 digits`);
}

/** One forward pass over all the digits (batching is what makes many at once cheap). */
export function classify(model: Sequential, digits: Float32Array[]): Prediction[] {
  if (digits.length === 0) return [];
  const n = SIZE * SIZE;
  const x = new Float32Array(digits.length * n);
  digits.forEach((d, i) => x.set(d, i * n));
  const probs = model.predictProba({ shape: [digits.length, SIZE, SIZE, 1], data: x }).data;
  return digits.map((_d, i) => {
    const probabilities = Array.from(probs.subarray(i * 10, i * 10 + 10));
    const top = probabilities
      .map((probability, digit) => ({ digit, probability }))
      .sort((a, b) => b.probability - a.probability)
      .slice(0, 3);
    return { top, probabilities };
  });
}

const round = (v: number) => Math.round(v * 1e4) / 1e4;
const rows = (d: Float32Array) => Array.from({ length: SIZE }, (_r, y) => Array.from(d.subarray(y * SIZE, (y + 1) * SIZE), round));
const answer = (p: Prediction, d: Float32Array) => ({ top: p.top, probabilities: p.probabilities, preprocessed: rows(d) });

/** /api/predict's answer: one digit's, or (`row`) the row's digits and each one's. */
export function predictAnswer(row: boolean, digits: Float32Array[], preds: Prediction[]): unknown {
  if (!row) return answer(preds[0], digits[0]);
  return { digits: preds.map((p) => p.top[0].digit).join(''), predictions: preds.map((p, i) => answer(p, digits[i])) };
}
