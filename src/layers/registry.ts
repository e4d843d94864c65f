// Keras class name → layer, for every model file we read (TF.js model.json, Keras .h5 and .keras).
// Configs arrive in camelCase (the readers fold Keras' snake_case); anything we cannot honour exactly is
// refused with the layer's name and class, never silently changed.
import {
  BatchNormalization,
  Conv2D,
  Dense,
  Dropout,
  Flatten,
  MaxPooling2D,
  AveragePooling2D,
  GlobalAveragePooling2D,
  GlobalMaxPooling2D,
  Reshape,
  Rescaling,
  Activation,
  ReLU,
  LeakyReLU,
  ELU,
  Softmax,
  type Layer,
  type Activated,
} from './index';
import { checkActivation } from './activation';
import { DigitsError } from '../errors';

type Config = Record<string, any>;

/** What a file tells about the Keras that wrote it, where defaults changed between versions. */
export interface KerasContext {
  /** Keras 3 (hard_sigmoid's slope is 1/6, LeakyReLU's parameter is negative_slope). */
  keras3?: boolean;
  /** Collects settings that affect only training and that fine-tuning here does not apply (regularizers…). */
  notes?: string[];
}

/** Keras' to_snake_case: the base of automatic layer names and of `.keras` weight paths (Conv2D → conv2d). */
export function snakeCase(className: string): string {
  return className
    .replace(/(.)([A-Z][a-z]+)/g, '$1_$2')
    .replace(/([a-z])([A-Z])/g, '$1_$2')
    .toLowerCase();
}

function expect(cond: boolean, where: string, what: string): void {
  if (!cond) throw new DigitsError(`${where}: ${what}`);
}

/** The float dtypes compute here in float32 (Keras' mixed_* policies keep float32 variables too). */
function dtypeName(d: unknown): string | undefined {
  if (d == null) return undefined;
  if (typeof d === 'string') return d;
  const o = d as Config;
  return o.config?.name ?? o.name;
}

function common(c: Config, where: string, ctx: KerasContext): { name: string; inputShape?: number[] } {
  expect(!c.dataFormat || c.dataFormat === 'channels_last', where, `data_format '${c.dataFormat}' is not supported (channels_last only)`);
  const dtype = dtypeName(c.dtype);
  expect(
    dtype === undefined || /^(mixed_)?(float16|bfloat16|float32|float64)$/.test(dtype),
    where,
    `dtype '${dtype}' is not supported (float types only)`,
  );
  const bis: (number | null)[] | undefined = c.batchInputShape ?? c.batchShape;
  expect(bis == null || Array.isArray(bis), where, `batch_input_shape must be a list, got ${JSON.stringify(bis)}`);
  const trainingOnly = [
    'kernelRegularizer',
    'biasRegularizer',
    'activityRegularizer',
    'kernelConstraint',
    'biasConstraint',
    'betaRegularizer',
    'gammaRegularizer',
    'betaConstraint',
    'gammaConstraint',
  ].filter((k) => c[k] != null);
  if (trainingOnly.length > 0)
    ctx.notes?.push(
      `${c.name}: ${trainingOnly.map((k) => k.replace(/[A-Z]/g, (m) => `_${m.toLowerCase()}`)).join(', ')} not applied when training here`,
    );
  return { name: c.name, inputShape: bis ? (bis.slice(1) as number[]) : undefined };
}

/**
 * An activation as Keras serialises it (a name, TF.js' camelCase name, or Keras 3's {config: name} object)
 * → our name and parameter. Parametrised names take Keras' defaults for them.
 */
export function parseActivation(a: unknown, where: string, ctx: KerasContext): { activation: string; alpha?: number } {
  let name =
    a == null
      ? 'linear'
      : typeof a === 'string'
        ? a
        : typeof (a as Config).config === 'string'
          ? (a as Config).config
          : (a as Config).config?.name;
  expect(typeof name === 'string', where, `activation ${JSON.stringify(a)?.slice(0, 80)} is not supported`);
  if (name === 'hardSigmoid') return { activation: 'hard_sigmoid', alpha: 0.2 };
  name = (name as string).replace(/[A-Z]/g, (m: string) => `_${m.toLowerCase()}`);
  const alpha = name === 'hard_sigmoid' ? (ctx.keras3 ? 1 / 6 : 0.2) : name === 'leaky_relu' ? 0.2 : name === 'elu' ? 1 : undefined;
  try {
    return { activation: checkActivation(name, where), alpha };
  } catch (e) {
    throw new DigitsError((e as Error).message);
  }
}

function withAlpha<T extends Activated>(layer: T, alpha: number | undefined): T {
  if (alpha !== undefined) layer.alpha = alpha;
  return layer;
}

const MAKERS: Record<string, (c: Config, where: string, ctx: KerasContext) => Layer> = {
  Conv2D: (c, w, ctx) => {
    expect(
      !c.dilationRate || [].concat(c.dilationRate).every((d: number) => d === 1),
      w,
      `dilation_rate ${JSON.stringify(c.dilationRate)} is not supported (1 only)`,
    );
    expect(!c.groups || c.groups === 1, w, 'grouped convolution is not supported');
    expect(c.padding === undefined || c.padding === 'valid' || c.padding === 'same', w, `padding '${c.padding}' is not supported`);
    const { activation, alpha } = parseActivation(c.activation, w, ctx);
    return withAlpha(
      new Conv2D({
        ...common(c, w, ctx),
        filters: c.filters,
        kernelSize: c.kernelSize,
        strides: c.strides,
        padding: c.padding,
        activation,
        useBias: c.useBias,
      }),
      alpha,
    );
  },
  Dense: (c, w, ctx) => {
    const { activation, alpha } = parseActivation(c.activation, w, ctx);
    return withAlpha(new Dense({ ...common(c, w, ctx), units: c.units, activation, useBias: c.useBias }), alpha);
  },
  MaxPooling2D: (c, w, ctx) => new MaxPooling2D({ ...common(c, w, ctx), poolSize: c.poolSize, strides: c.strides, padding: c.padding }),
  AveragePooling2D: (c, w, ctx) =>
    new AveragePooling2D({ ...common(c, w, ctx), poolSize: c.poolSize, strides: c.strides, padding: c.padding }),
  GlobalAveragePooling2D: (c, w, ctx) => new GlobalAveragePooling2D({ ...common(c, w, ctx), keepdims: c.keepdims }),
  GlobalMaxPooling2D: (c, w, ctx) => new GlobalMaxPooling2D({ ...common(c, w, ctx), keepdims: c.keepdims }),
  Flatten: (c, w, ctx) => new Flatten(common(c, w, ctx)),
  Reshape: (c, w, ctx) => new Reshape({ ...common(c, w, ctx), targetShape: c.targetShape }),
  Rescaling: (c, w, ctx) => new Rescaling({ ...common(c, w, ctx), scale: c.scale, offset: c.offset }),
  Dropout: (c, w, ctx) => {
    expect(c.noiseShape == null, w, `noise_shape ${JSON.stringify(c.noiseShape)} is not supported`);
    return new Dropout({ ...common(c, w, ctx), rate: c.rate });
  },
  Activation: (c, w, ctx) => {
    const { activation, alpha } = parseActivation(c.activation, w, ctx);
    return withAlpha(new Activation({ ...common(c, w, ctx), activation }), alpha);
  },
  ReLU: (c, w, ctx) => new ReLU({ ...common(c, w, ctx), maxValue: c.maxValue, negativeSlope: c.negativeSlope, threshold: c.threshold }),
  LeakyReLU: (c, w, ctx) => new LeakyReLU({ ...common(c, w, ctx), alpha: c.negativeSlope ?? c.alpha }),
  ELU: (c, w, ctx) => new ELU({ ...common(c, w, ctx), alpha: c.alpha }),
  Softmax: (c, w, ctx) => new Softmax({ ...common(c, w, ctx), axis: c.axis }),
  BatchNormalization: (c, w, ctx) => {
    const axis = Array.isArray(c.axis) ? c.axis : [c.axis ?? -1];
    // a positive axis is checked against the input rank once the model is built
    expect(axis.length === 1 && Number.isInteger(axis[0]), w, `axis ${JSON.stringify(c.axis)} is not supported (last axis only)`);
    expect(
      !c.renorm && c.virtualBatchSize == null && c.adjustment == null,
      w,
      'batch renormalization, virtual batches and adjustment are not supported',
    );
    return new BatchNormalization({ ...common(c, w, ctx), momentum: c.momentum, epsilon: c.epsilon, center: c.center, scale: c.scale });
  },
};

export const LAYER_CLASSES: readonly string[] = Object.keys(MAKERS);

/** A layer from its Keras class name and (camelCased) config; `where` names it in errors. */
export function makeLayer(className: string, config: Config, where: string, ctx: KerasContext = {}): Layer {
  const make = MAKERS[className];
  if (!make)
    throw new DigitsError(`${where}: layer class '${className}' is not supported (supported: InputLayer, ${LAYER_CLASSES.join(', ')})`);
  let layer: Layer;
  try {
    layer = make(config, where, ctx);
  } catch (e) {
    if (e instanceof DigitsError && e.message.startsWith(where)) throw e;
    throw new DigitsError(`${where}: ${(e as Error).message}`);
  }
  if (config.trainable === false) layer.trainable = false;
  return layer;
}
