// Looking inside a model for the lab (web/lab.html): every layer's output for one digit, the saliency
// map (the gradient of the top class's score with respect to the input pixels) and the first
// convolutions' filters. Free of node modules and of the DOM; the tests check the saliency against
// finite differences.
import type { Sequential } from '../model/sequential';
import { Activated } from '../layers/activation';
import { BatchNormalization } from '../layers/batchnorm';
import { Conv2D } from '../layers/conv2d';
import { sizeOf } from '../tensor';

export interface LayerOutput {
  name: string;
  className: string;
  /** One sample's output shape: [h, w, c] for image-like outputs, [units] for flat ones. */
  shape: number[];
  values: Float32Array;
}

/** Runs one digit through every layer in turn (inference mode, unfused) and keeps each output. */
export function activations(model: Sequential, pixels: Float32Array): LayerOutput[] {
  model.build();
  const ctx = model.context();
  let h = pixels;
  if (model.inputScale !== 1) h = pixels.map((v) => v * model.inputScale);
  return model.layers.map((l) => {
    h = l.forward(h, 1, false, ctx);
    return { name: l.name, className: l.className, shape: l.outputShape, values: h.slice() };
  });
}

/** Whether the last layer applies a softmax that the top class's score (its logit) sits under. */
function softmaxLast(model: Sequential): boolean {
  const last = model.layers[model.layers.length - 1];
  return last instanceof Activated && last.activation === 'softmax';
}

export interface Saliency {
  /** The class whose score was differentiated (the model's top class unless one was given). */
  digit: number;
  /** d score / d pixel, 28×28 (signed). */
  gradient: Float32Array;
  /** Whether the score is the pre-softmax logit (else the output itself). */
  logit: boolean;
}

/**
 * The gradient of the top class's score — its logit when the model ends in a softmax, else its output —
 * with respect to the input pixels, through Sequential.backward. Batch normalisation is differentiated
 * as the fixed affine map it is at inference (its moving statistics), not through batch statistics.
 */
export function saliency(model: Sequential, pixels: Float32Array, digit?: number): Saliency {
  const out = activations(model, pixels);
  const y = out[out.length - 1].values;
  let top = 0;
  for (let i = 1; i < y.length; i++) if (y[i] > y[top]) top = i;
  const cls = digit ?? top;
  const logit = softmaxLast(model);
  const grad = new Float32Array(y.length);
  grad[cls] = 1;
  const bns = model.layers.filter((l): l is BatchNormalization => l instanceof BatchNormalization && l.trainable);
  const first = model.layers[0];
  const need = first.needInputGrad;
  for (const b of bns) b.trainable = false;
  first.needInputGrad = true;
  try {
    const g = model.backward(grad, 1, model.context(), logit);
    const gradient = g.slice(0, sizeOf(model.inputShape));
    if (model.inputScale !== 1) for (let i = 0; i < gradient.length; i++) gradient[i] *= model.inputScale;
    return { digit: cls, gradient, logit };
  } finally {
    for (const b of bns) b.trainable = true;
    first.needInputGrad = need;
  }
}

export interface Filters {
  layer: string;
  /** [kh, kw, inChannels, filters], Keras' layout. */
  shape: number[];
  kernel: Float32Array;
}

/** The kernels of the first `count` Conv2D layers. */
export function convFilters(model: Sequential, count = 2): Filters[] {
  return model.layers
    .filter((l): l is Conv2D => l instanceof Conv2D)
    .slice(0, count)
    .map((l) => ({ layer: l.name, shape: l.weights[0].shape, kernel: l.weights[0].value.slice() }));
}

/** One filter (output channel f, input channel c) of a Keras-layout kernel as a kh×kw array. */
export function filterSlice(f: Filters, out: number, inCh: number): Float32Array {
  const [kh, kw, cin, cout] = f.shape;
  const r = new Float32Array(kh * kw);
  for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) r[i * kw + j] = f.kernel[((i * kw + j) * cin + inCh) * cout + out];
  return r;
}
