// Keras' summary table, column for column (tf.keras 2.x print_summary: positions 29/55/65 of a 65-wide line, fields
// truncated and separated by a space), so our output lines up with the seed documents.
import type { Sequential } from './sequential';

const POSITIONS = [29, 55, 65];

function row(fields: string[]): string {
  let line = '';
  fields.forEach((f, i) => {
    if (i > 0) line = line.slice(0, -1) + ' ';
    line += f;
    line = line.slice(0, POSITIONS[i]);
    line += ' '.repeat(POSITIONS[i] - line.length);
  });
  return line;
}

export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

export function summary(model: Sequential): string {
  const width = POSITIONS[2];
  const lines = [`Model: "${model.name}"`, '_'.repeat(width), row(['Layer (type)', 'Output Shape', 'Param #']), '='.repeat(width)];
  model.layers.forEach((l, i) => {
    lines.push(row([`${l.name} (${l.className})`, `(None, ${l.outputShape.join(', ')})`, String(l.countParams())]));
    lines.push(i === model.layers.length - 1 ? '='.repeat(width) : '_'.repeat(width));
  });
  const total = model.countParams();
  const trainable = model.layers.reduce((s, l) => s + l.trainableParams(), 0);
  lines.push(
    `Total params: ${formatCount(total)}`,
    `Trainable params: ${formatCount(trainable)}`,
    `Non-trainable params: ${formatCount(total - trainable)}`,
    '_'.repeat(width),
  );
  return lines.join('\n');
}
