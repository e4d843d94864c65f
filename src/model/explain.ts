// `digits summary --explain`: the arithmetic behind each row of the summary, the way seed 001
// works it out by hand (25 = 28 - 4 + 1, 544 = 32 × (4·4·1 + 1)).
import type { Layer } from '../layers/layer';
import { Conv2D, Dense, MaxPooling2D, Flatten, BatchNormalization } from '../layers';
import type { Sequential } from './sequential';

function spatial(size: number, k: number, s: number, padding: 'valid' | 'same', out: number): string {
  if (padding === 'same')
    return s === 1 ? `${out} = ${size} (same padding keeps the size)` : `${out} = ceil(${size} / ${s}) (same padding)`;
  if (s === 1) return `${out} = ${size} - ${k} + 1`;
  return `${out} = floor((${size} - ${k}) / ${s}) + 1`;
}

export function explainLayer(l: Layer): string[] {
  const [h, w] = l.inputShape;
  const [oh, ow] = l.outputShape;
  if (l instanceof Conv2D) {
    const [kh, kw] = l.kernelSize;
    const c = l.inputShape[2];
    const lines = [
      `output ${spatial(h, kh, l.strides[0], l.padding, oh)}` +
        (h === w && kh === kw ? '' : `; ${spatial(w, kw, l.strides[1], l.padding, ow)}`),
    ];
    lines.push(
      l.useBias
        ? `params ${l.countParams()} = ${l.filters} × (${kh}·${kw}·${c} + 1)`
        : `params ${l.countParams()} = ${l.filters} × ${kh}·${kw}·${c}`,
    );
    return lines;
  }
  if (l instanceof MaxPooling2D) {
    return [
      `output ${spatial(h, l.poolSize[0], l.strides[0], l.padding, oh)}; each ${l.poolSize.join('x')} window keeps its maximum`,
      'params 0',
    ];
  }
  if (l instanceof Flatten) return [`output ${l.outputShape[0]} = ${l.inputShape.join(' × ')}`, 'params 0'];
  if (l instanceof Dense) {
    const units = l.outputShape[0];
    return [
      l.useBias
        ? `params ${l.countParams()} = ${units} × (${l.inputShape[0]} + 1)`
        : `params ${l.countParams()} = ${units} × ${l.inputShape[0]}`,
    ];
  }
  if (l instanceof BatchNormalization) {
    const c = l.inputShape[l.inputShape.length - 1];
    return [`params ${l.countParams()} = 4 × ${c} (gamma, beta trainable; moving mean and variance not: ${2 * c} non-trainable)`];
  }
  return ['params 0; shape unchanged'];
}

export function explain(model: Sequential): string {
  model.build();
  const lines = [`input (None, ${model.inputShape.join(', ')})`];
  for (const l of model.layers) {
    lines.push(`${l.name} (${l.className}) → (None, ${l.outputShape.join(', ')})`);
    for (const e of explainLayer(l)) lines.push(`    ${e}`);
  }
  lines.push(
    `total ${model.countParams().toLocaleString('en-US')} = ${model.layers
      .filter((l) => l.countParams())
      .map((l) => l.countParams())
      .join(' + ')}`,
  );
  return lines.join('\n');
}
