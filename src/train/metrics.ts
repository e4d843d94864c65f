// Classification metrics from predicted probabilities: confusion matrix and per-class precision,
// recall and F1 (sklearn's classification_report, which the seed notebooks print beside Keras).
import { argmaxRow } from '../tensor';

export function predictedLabels(probs: Float32Array, rows: number, classes: number): Int32Array {
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) out[r] = argmaxRow(probs, r, classes);
  return out;
}

/** cm[true][predicted] counts, like sklearn's confusion_matrix. */
export function confusionMatrix(truth: ArrayLike<number>, predicted: ArrayLike<number>, classes: number): number[][] {
  const cm = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  for (let i = 0; i < truth.length; i++) cm[truth[i]][predicted[i]]++;
  return cm;
}

export interface ClassMetrics {
  label: number;
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

export function perClassMetrics(cm: number[][]): ClassMetrics[] {
  return cm.map((row, c) => {
    const tp = row[c];
    const support = row.reduce((a, b) => a + b, 0);
    const predicted = cm.reduce((s, r) => s + r[c], 0);
    const precision = predicted ? tp / predicted : 0;
    const recall = support ? tp / support : 0;
    const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
    return { label: c, precision, recall, f1, support };
  });
}

export function formatConfusionMatrix(cm: number[][]): string {
  const w = Math.max(5, ...cm.flat().map((v) => String(v).length + 1));
  const head = 'true\\pred'.padEnd(10) + cm.map((_r, c) => String(c).padStart(w)).join('');
  return [head, ...cm.map((row, r) => String(r).padEnd(10) + row.map((v) => String(v).padStart(w)).join(''))].join('\n');
}

export function formatClassReport(m: ClassMetrics[]): string {
  const lines = ['class  precision  recall  f1-score  support'];
  for (const c of m)
    lines.push(
      `${String(c.label).padStart(5)}  ${c.precision.toFixed(4).padStart(9)}  ${c.recall.toFixed(4).padStart(6)}  ${c.f1.toFixed(4).padStart(8)}  ${String(c.support).padStart(7)}`,
    );
  return lines.join('\n');
}
