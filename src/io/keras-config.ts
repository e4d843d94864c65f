// A Keras model config, in every form the files we read carry it (TF.js modelTopology, Keras 2 model_config,
// Keras 3 config.json; Sequential or a Functional that is a plain chain), → a built Sequential; and a
// training_config / compile_config → compile. Free of node:fs: the browser page uses it too.
import { Sequential } from '../model/sequential';
import { makeLayer, type KerasContext } from '../layers/registry';
import { withWeightBudget, type Layer } from '../layers/layer';
import type { Kernels } from '../kernels/kernels';
import { makeOptimizer } from '../model/optimizers';
import { DigitsError } from '../errors';

type Json = any;

/**
 * Errors quote what a file holds (layer and member names, JSON text around a syntax error), which may
 * contain line breaks and control characters, or run to kilobytes (Keras' chunked name lists exist for
 * names that long): control characters come out escaped and long quotes cut in the middle, so every
 * message stays one readable line. `keep`, the file's name the message starts with, is never cut.
 */
export function oneLine(message: string, keep = ''): string {
  const escape = (s: string) =>
    s.replace(/[\x00-\x1f\x7f\x85\u2028\u2029]/g, (c) =>
      c === '\n' ? '\\n' : c === '\r' ? '\\r' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
    );
  const head = keep && message.startsWith(keep) ? keep : '';
  let rest = escape(message.slice(head.length)).replace(/\S{121,}/g, (w) => `${w.slice(0, 60)}…${w.slice(-40)}`);
  if (rest.length > 800) rest = `${rest.slice(0, 560)} … ${rest.slice(-200)}`;
  return escape(head) + rest;
}

/** Runs a reader of the file `where` with its DigitsErrors' messages made one line. */
export function oneLineErrors<T>(where: string, read: () => T): T {
  const fix = (e: unknown): never => {
    if (e instanceof DigitsError) e.message = oneLine(e.message, where);
    throw e;
  };
  try {
    const r = read();
    return (r instanceof Promise ? r.catch(fix) : r) as T;
  } catch (e) {
    return fix(e);
  }
}

/** Per-sample values one layer may output (MNIST-sized models need under 2^17); predict allocates batches of them. */
const MAX_ACTIVATION = 2 ** 24;

const camel = (s: string) => s.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());

export function camelDeep(v: Json): Json {
  if (Array.isArray(v)) return v.map(camelDeep);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [camel(k), camelDeep(x)]));
  return v;
}

export interface ModelSpec {
  name: string;
  inputShape: number[];
  layers: Layer[];
  /** BatchNormalization axes as the file gave them, checked once shapes are known. */
  bnAxes: Map<Layer, number>;
}

const isObject = (v: unknown): v is Record<string, Json> => !!v && typeof v === 'object' && !Array.isArray(v);

/** [null, 28, 28, 1] → [28, 28, 1]; undefined unless every sample dimension is a positive integer. */
function sampleShape(batchShape: unknown): number[] | undefined {
  if (!Array.isArray(batchShape) || batchShape.length < 2) return undefined;
  const s = batchShape.slice(1);
  return s.every((d) => Number.isSafeInteger(d) && d > 0) ? (s as number[]) : undefined;
}

/** A JSON value in a message: a string as it is, anything else as JSON (an object's own toString may be anything). */
const text = (v: unknown): string => (typeof v === 'string' ? v : String(JSON.stringify(v)));

/** Keras 3 names its own classes under the keras module; anything else registered is user code. */
function checkBuiltIn(spec: Json, where: string): void {
  const module = spec.module;
  if (typeof module === 'string' && !/^(tf_)?keras(\.|$)/.test(module) && !/^tensorflow\.keras/.test(module)) {
    throw new DigitsError(`${where}: custom class '${text(spec.class_name)}' from module '${module}' is not supported`);
  }
}

/** The layer specs of a Functional model in order from input to output, if they form a plain chain. */
function chainOf(config: Json, where: string): Json[] {
  const specs: Json[] = Array.isArray(config?.layers) ? config.layers : [];
  if (specs.length === 0) throw new DigitsError(`${where}: the model config has no layers`);
  const bad = specs.findIndex((s) => !isObject(s));
  if (bad >= 0) throw new DigitsError(`${where}: layer ${bad} is not a JSON object`);
  const one = (ends: Json, what: string): string => {
    // Keras 2: [["input_1", 0, 0]]; Keras 3 also writes a single ["input_layer", 0, 0]
    const list = Array.isArray(ends) && typeof ends[0] === 'string' ? [ends] : ends;
    if (!Array.isArray(list) || list.length !== 1 || !Array.isArray(list[0]) || typeof list[0][0] !== 'string') {
      throw new DigitsError(
        `${where}: the model has ${Array.isArray(list) ? list.length : 'no'} ${what}s; only single-input, single-output chains are supported`,
      );
    }
    return list[0][0];
  };
  const input = one(config.input_layers, 'input'),
    output = one(config.output_layers, 'output');
  const byName = new Map<string, Json>();
  for (const s of specs) byName.set(s?.name ?? s?.config?.name, s);
  const chain: Json[] = [];
  for (let name = output; name !== input;) {
    const spec = byName.get(name);
    if (!spec) throw new DigitsError(`${where}: the model refers to a layer '${name}' it does not define`);
    if (chain.length > specs.length) throw new DigitsError(`${where}: the layer graph has a cycle at '${name}'`);
    chain.unshift(spec);
    name = inboundOf(spec, where);
  }
  const inputSpec = byName.get(input);
  if (!inputSpec) throw new DigitsError(`${where}: the model's input layer '${input}' is not defined`);
  chain.unshift(inputSpec);
  const off = specs.find((s) => !chain.includes(s));
  if (off)
    throw new DigitsError(
      `${where}: layer '${off.name}' (${off.class_name}) is not on the chain from input to output; only plain chains are supported`,
    );
  return chain;
}

/** The one layer feeding `spec`, from Keras 2's nested lists or Keras 3's __keras_tensor__ objects. */
function inboundOf(spec: Json, where: string): string {
  const lw = `${where}: layer '${text(spec.name)}' (${text(spec.class_name)})`;
  const nodes = spec.inbound_nodes;
  if (!Array.isArray(nodes) || nodes.length !== 1) {
    throw new DigitsError(`${lw} is called ${Array.isArray(nodes) ? nodes.length : 0} times; only plain chains are supported`);
  }
  const sources: string[] = [];
  const visit = (v: Json): void => {
    if (Array.isArray(v)) {
      // Keras 2: a tensor is [layer_name, node_index, tensor_index, kwargs]
      if (typeof v[0] === 'string' && Number.isInteger(v[1])) sources.push(v[0]);
      else v.forEach(visit);
    } else if (isObject(v)) {
      if (v.class_name === '__keras_tensor__') sources.push(v.config?.keras_history?.[0]);
      else if (v.args !== undefined) visit(v.args);
    }
  };
  visit(nodes[0]);
  if (sources.length !== 1 || typeof sources[0] !== 'string') {
    throw new DigitsError(`${lw} takes ${sources.length} inputs; only plain chains (one input per layer) are supported`);
  }
  return sources[0];
}

/**
 * The layers and input shape of a model config. `topology` is what a file holds: {class_name, config}
 * (Keras 2 and TF.js), Keras 3's {module, class_name, config, build_config}, or TF.js' {model_config: …}.
 */
export function parseModelConfig(topology: Json, where: string, ctx: KerasContext = {}): ModelSpec {
  let topo = topology;
  if (isObject(topo) && isObject(topo.model_config)) topo = topo.model_config;
  if (!isObject(topo)) throw new DigitsError(`${where}: the model config is not a JSON object`);
  const cls = topo.class_name ?? topo.className;
  const config = topo.config;
  let specs: Json[];
  if (cls === 'Sequential') {
    // Keras ≤ 2.2.4 wrote a Sequential's config as the bare list of its layers
    specs = Array.isArray(config) ? config : config?.layers;
  } else if (cls === 'Functional' || cls === 'Model') {
    specs = chainOf(config, where);
  } else {
    throw new DigitsError(
      `${where}: model class '${text(cls)}' is not supported (Sequential, or a Functional model that is a plain chain)`,
    );
  }
  if (!Array.isArray(specs) || specs.length === 0) throw new DigitsError(`${where}: the model config has no layers`);
  let inputShape: number[] | undefined;
  const layers: Layer[] = [];
  const bnAxes = new Map<Layer, number>();
  specs.forEach((spec, i) => {
    if (!isObject(spec)) throw new DigitsError(`${where}: layer ${i} is not a JSON object`);
    const layerCls = spec.class_name ?? spec.className;
    if (typeof layerCls !== 'string') throw new DigitsError(`${where}: layer ${i}: class_name ${text(layerCls)} is not a string`);
    const raw = isObject(spec?.config) ? spec.config : {};
    const lw = `${where}: layer ${i} (${text(raw.name ?? spec?.name ?? layerCls)}, ${layerCls})`;
    checkBuiltIn(spec, lw);
    if (layerCls === 'InputLayer') {
      if (raw.sparse || raw.ragged) throw new DigitsError(`${lw}: sparse and ragged inputs are not supported`);
      inputShape = sampleShape(raw.batch_input_shape ?? raw.batch_shape ?? raw.batchInputShape ?? raw.batchShape);
      if (!inputShape)
        throw new DigitsError(
          `${lw}: no usable input shape (${JSON.stringify(raw.batch_input_shape ?? raw.batch_shape ?? raw.batchInputShape ?? null)})`,
        );
      return;
    }
    if (layerCls === 'Sequential' || layerCls === 'Functional' || layerCls === 'Model')
      throw new DigitsError(`${lw}: nested models are not supported`);
    const cfg = camelDeep(raw);
    if (typeof cfg.name !== 'string' || cfg.name === '') cfg.name = spec?.name ?? `${layerCls.toLowerCase()}_${i}`;
    const layer = makeLayer(layerCls, cfg, lw, ctx);
    if (layerCls === 'BatchNormalization') {
      bnAxes.set(layer, ([] as number[]).concat(cfg.axis ?? -1)[0]);
      // the kernels take these as numbers (epsilon added to the variance): anything else would crash predict or make NaN
      for (const k of ['epsilon', 'momentum']) {
        const v = cfg[k];
        if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v) && v >= 0))
          throw new DigitsError(`${lw}: ${k} ${JSON.stringify(v)} is not a number ≥ 0`);
      }
    }
    // a batch_input_shape on any layer but the first (Keras 2 copies it when layers are reused) means nothing
    if (layers.length === 0 && !inputShape)
      inputShape =
        sampleShape(raw.batch_input_shape ?? raw.batch_shape ?? raw.batchInputShape) ?? sampleShape(spec.build_config?.input_shape);
    layers.push(layer);
  });
  inputShape ??= sampleShape(isObject(config) ? config.build_input_shape : undefined) ?? sampleShape(topo.build_config?.input_shape);
  if (layers.length === 0) throw new DigitsError(`${where}: the model has no layers besides its input`);
  if (!inputShape) throw new DigitsError(`${where}: the model config declares no input shape (no InputLayer or batch_input_shape)`);
  const seen = new Set<string>();
  for (const l of layers) {
    if (seen.has(l.name)) throw new DigitsError(`${where}: two layers are named '${l.name}'`);
    seen.add(l.name);
  }
  return { name: (isObject(config) && typeof config.name === 'string' && config.name) || 'sequential', inputShape, layers, bnAxes };
}

/**
 * Builds the model of a spec. `maxWeightValues` — what the file's weight data can honestly hold — bounds
 * what the config may make us allocate, so a lying config fails here, not in malloc.
 */
export function buildModel(spec: ModelSpec, where: string, maxWeightValues: number, kernels?: Kernels): Sequential {
  const model = new Sequential({ name: spec.name, layers: spec.layers, kernels });
  try {
    withWeightBudget(maxWeightValues, () => model.build(spec.inputShape));
  } catch (e) {
    if (e instanceof DigitsError) throw new DigitsError(`${where}: ${e.message}`);
    throw e;
  }
  for (const l of model.layers) {
    const size = l.outputShape.reduce((a, b) => a * b, 1);
    if (size > MAX_ACTIVATION)
      throw new DigitsError(`${where}: layer ${l.name} outputs ${size} values per sample, more than the limit of ${MAX_ACTIVATION}`);
  }
  for (const [l, axis] of spec.bnAxes) {
    if (axis !== -1 && axis !== l.inputShape.length)
      throw new DigitsError(`${where}: layer ${l.name}: BatchNormalization over axis ${axis} is not supported (the channel axis only)`);
  }
  return model;
}

/** Keras' loss identifiers and classes → our names, with from_logits and label_smoothing. */
function parseLoss(loss: Json): { loss: string; fromLogits: boolean; labelSmoothing: number } | null {
  const snake = (n: string) => n.replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase();
  if (typeof loss === 'string') return { loss: snake(loss), fromLogits: false, labelSmoothing: 0 };
  // Keras 3 writes a loss function as {class_name: 'function', config: 'categorical_crossentropy'}
  if (isObject(loss) && loss.class_name === 'function' && typeof loss.config === 'string')
    return { loss: snake(loss.config), fromLogits: false, labelSmoothing: 0 };
  if (isObject(loss) && typeof loss.class_name === 'string') {
    const c = isObject(loss.config) ? loss.config : {};
    return {
      loss: snake(loss.class_name),
      fromLogits: c.from_logits === true,
      labelSmoothing: typeof c.label_smoothing === 'number' ? c.label_smoothing : 0,
    };
  }
  return null;
}

/**
 * Compiles `model` as the file's training config says: Keras 2 training_config, Keras 3 compile_config or
 * TF.js trainingConfig. An optimizer we cannot match exactly (a schedule, AMSGrad, Adadelta, …) still
 * compiles the loss, so evaluate reports Keras' number, but comes back as a note: training such a model
 * needs an optimizer chosen on the command line. No loss at all leaves the model uncompiled.
 */
export function compileFromConfig(model: Sequential, tc: Json): { optimizerNote?: string } {
  if (!isObject(tc)) return {};
  const loss = parseLoss(tc.loss);
  if (!loss)
    return { optimizerNote: `loss ${JSON.stringify(tc.loss)?.slice(0, 60)} not understood; the file's training settings are not used` };
  let oc = tc.optimizer_config ?? tc.optimizerConfig ?? tc.optimizer;
  if (typeof oc === 'string') oc = { class_name: oc, config: {} };
  const cfg = camelDeep(isObject(oc?.config) ? oc.config : {});
  const className = text(oc?.class_name ?? oc?.className ?? 'rmsprop');
  // what our optimizers do not do would train differently from Keras
  const unsupported = [
    cfg.momentum && /rmsprop/i.test(className) && 'momentum',
    cfg.centered && 'centered',
    cfg.amsgrad && 'AMSGrad',
    cfg.decay && 'learning-rate decay',
    cfg.useEma && 'EMA of weights',
    (cfg.clipnorm ?? cfg.clipvalue ?? cfg.globalClipnorm) != null && 'gradient clipping',
  ].filter(Boolean) as string[];
  let lr = cfg.learningRate ?? cfg.lr;
  if (isObject(lr)) {
    unsupported.push(`learning-rate schedule ${lr.class_name}`);
    lr = undefined;
  }
  let optimizer;
  let optimizerNote: string | undefined;
  try {
    if (unsupported.length > 0) throw new Error(`${className} with ${unsupported.join(', ')} is not supported`);
    optimizer = makeOptimizer(className, { ...cfg, learningRate: lr, weightDecay: cfg.weightDecay ?? undefined });
  } catch (e) {
    optimizerNote = `the file's optimizer: ${(e as Error).message.replace(/^optimizer: /, '')}`;
    optimizer = makeOptimizer('sgd');
  }
  try {
    model.compile({
      optimizer,
      loss: loss.loss,
      fromLogits: loss.fromLogits,
      labelSmoothing: loss.labelSmoothing || (typeof tc.label_smoothing === 'number' ? tc.label_smoothing : undefined),
    });
  } catch (e) {
    return { optimizerNote: `${(e as Error).message}; the file's training settings are not used` };
  }
  return { optimizerNote };
}

// ---- writing: our layers → the Keras configs each target reads ----

/** The Keras versions our files say wrote them: the layouts and configs follow those versions' saving code. */
export const KERAS2_VERSION = '2.15.0';
export const KERAS3_VERSION = '3.8.0';

/** Who reads the config: TF.js (Keras 2 style, its own activation names), tf.keras 2.x, or Keras 3. */
export type Flavor = 'tfjs' | 'keras2' | 'keras3';

/** Activation names each reader knows, with the parameter the bare name implies. */
const ACTIVATION_NAMES: Record<Flavor, Record<string, { name?: string; alpha?: number }>> = {
  tfjs: {
    relu: {},
    sigmoid: {},
    tanh: {},
    linear: {},
    softmax: {},
    elu: { alpha: 1 },
    selu: {},
    softplus: {},
    softsign: {},
    hard_sigmoid: { name: 'hardSigmoid', alpha: 0.2 },
    relu6: {},
    swish: {},
    mish: {},
    gelu: {},
  },
  keras2: {
    relu: {},
    sigmoid: {},
    tanh: {},
    linear: {},
    softmax: {},
    elu: { alpha: 1 },
    selu: {},
    softplus: {},
    softsign: {},
    hard_sigmoid: { alpha: 0.2 },
    exponential: {},
    swish: {},
    gelu: {},
  },
  keras3: {
    relu: {},
    sigmoid: {},
    tanh: {},
    linear: {},
    softmax: {},
    elu: { alpha: 1 },
    selu: {},
    softplus: {},
    softsign: {},
    hard_sigmoid: { alpha: 1 / 6 },
    exponential: {},
    swish: { name: 'silu' },
    gelu: {},
    mish: {},
    relu6: {},
    leaky_relu: { alpha: 0.2 },
  },
};

/** The activation string for `flavor`, or null when that reader has no name for it (with this parameter). */
function activationName(activation: string, alpha: number, flavor: Flavor): string | null {
  const known = ACTIVATION_NAMES[flavor][activation];
  if (!known) return null;
  if (known.alpha !== undefined && !Number.isNaN(alpha) && Math.abs(alpha - known.alpha) > 1e-7) return null;
  return known.name ?? activation;
}

const glorot = { class_name: 'GlorotUniform', config: { seed: null } };
const constant = (cls: string) => ({ class_name: cls, config: {} });
const noRegularizers = {
  kernel_regularizer: null,
  bias_regularizer: null,
  activity_regularizer: null,
  kernel_constraint: null,
  bias_constraint: null,
};

/** Keras 3 serialises objects with their module; Keras 2 and TF.js with class_name and config only. */
function keras3Object(o: { class_name: string; config: Json }, module: string): Json {
  return { module, class_name: o.class_name, config: o.config, registered_name: null };
}

/**
 * One layer as `flavor` serialises it: {class_name, config} with Keras' snake_case keys and defaults.
 * An Activation layer whose function the reader cannot name is written as the equivalent layer class
 * (LeakyReLU, ELU, ReLU(max_value=6)); a fused activation it cannot name is a one-line error.
 */
export function layerToKeras(l: Layer, flavor: Flavor, where: string): { class_name: string; config: Json } {
  const k3 = flavor === 'keras3';
  const init = (o: { class_name: string; config: Json }) => (k3 ? keras3Object(o, 'keras.initializers') : o);
  // every Keras 3 reads a plain dtype string; DTypePolicy objects are what 3.6+ writes, 3.0–3.4 do not know them
  const base: Json = { name: l.name, trainable: l.trainable, dtype: 'float32' };
  const a = l as Layer & { activation?: string; alpha?: number };
  const act = () => {
    const name = activationName(a.activation!, a.alpha ?? NaN, flavor);
    if (name === null) {
      const alt = flavor === 'keras3' ? '' : ` (a .keras file can hold it${flavor === 'tfjs' ? '; so can .onnx' : ''})`;
      throw new DigitsError(
        `${where}: layer ${l.name} (${l.className}): ${flavor === 'tfjs' ? 'TF.js' : flavor === 'keras2' ? 'Keras 2' : 'Keras 3'} has no name for activation ${a.activation}${Number.isNaN(a.alpha ?? NaN) ? '' : ` with alpha ${a.alpha}`}${alt}`,
      );
    }
    return name;
  };
  const c = l.getConfig() as Json;
  const cls = l.className;
  switch (cls) {
    case 'Conv2D':
      return {
        class_name: cls,
        config: {
          ...base,
          filters: c.filters,
          kernel_size: c.kernelSize,
          strides: c.strides,
          padding: c.padding,
          data_format: 'channels_last',
          dilation_rate: [1, 1],
          ...(flavor !== 'tfjs' && { groups: 1 }),
          activation: act(),
          use_bias: c.useBias,
          kernel_initializer: init(glorot),
          bias_initializer: init(constant('Zeros')),
          ...noRegularizers,
        },
      };
    case 'Dense':
      return {
        class_name: cls,
        config: {
          ...base,
          units: c.units,
          activation: act(),
          use_bias: c.useBias,
          kernel_initializer: init(glorot),
          bias_initializer: init(constant('Zeros')),
          ...noRegularizers,
        },
      };
    case 'MaxPooling2D':
    case 'AveragePooling2D':
      return {
        class_name: cls,
        config: { ...base, pool_size: c.poolSize, padding: c.padding, strides: c.strides, data_format: 'channels_last' },
      };
    case 'GlobalAveragePooling2D':
    case 'GlobalMaxPooling2D':
      if (flavor === 'tfjs' && c.keepdims)
        throw new DigitsError(`${where}: layer ${l.name} (${cls}): keepdims cannot be written for TF.js`);
      return { class_name: cls, config: { ...base, data_format: 'channels_last', ...(flavor !== 'tfjs' && { keepdims: c.keepdims }) } };
    case 'Flatten':
      return { class_name: cls, config: { ...base, data_format: 'channels_last' } };
    case 'Reshape':
      return { class_name: cls, config: { ...base, target_shape: c.targetShape } };
    case 'Rescaling':
      return { class_name: cls, config: { ...base, scale: c.scale, offset: c.offset } };
    case 'Dropout':
      return { class_name: cls, config: { ...base, rate: c.rate, noise_shape: null, seed: null } };
    case 'BatchNormalization':
      return {
        class_name: cls,
        config: {
          ...base,
          axis: -1,
          momentum: c.momentum,
          epsilon: c.epsilon,
          center: c.center,
          scale: c.scale,
          beta_initializer: init(constant('Zeros')),
          gamma_initializer: init(constant('Ones')),
          moving_mean_initializer: init(constant('Zeros')),
          moving_variance_initializer: init(constant('Ones')),
          beta_regularizer: null,
          gamma_regularizer: null,
          beta_constraint: null,
          gamma_constraint: null,
        },
      };
    case 'Softmax':
      return { class_name: cls, config: { ...base, axis: -1 } };
    case 'ELU':
      if (flavor === 'tfjs' && Math.abs((a.alpha ?? 1) - 1) > 1e-7)
        throw new DigitsError(
          `${where}: layer ${l.name} (ELU): TF.js's ELU takes alpha 1 only, not ${a.alpha} (a .keras file can hold it; so can .onnx)`,
        );
      return { class_name: cls, config: { ...base, alpha: a.alpha } };
    case 'LeakyReLU':
      return { class_name: cls, config: { ...base, [k3 ? 'negative_slope' : 'alpha']: a.alpha } };
    case 'ReLU':
    case 'Activation': {
      if (cls === 'ReLU' && flavor !== 'tfjs')
        return { class_name: cls, config: { ...base, max_value: c.maxValue, negative_slope: c.negativeSlope, threshold: c.threshold } };
      // what the reader cannot name as an activation, it reads as the equivalent layer
      const name = activationName(a.activation!, a.alpha ?? NaN, flavor);
      if (cls === 'Activation' && name !== null) return { class_name: cls, config: { ...base, activation: name } };
      if (a.activation === 'leaky_relu')
        return { class_name: 'LeakyReLU', config: { ...base, [k3 ? 'negative_slope' : 'alpha']: a.alpha } };
      if (a.activation === 'elu') {
        if (flavor === 'tfjs')
          throw new DigitsError(
            `${where}: layer ${l.name} (${cls}): TF.js has no elu with alpha ${a.alpha} (a .keras file can hold it; so can .onnx)`,
          );
        return { class_name: 'ELU', config: { ...base, alpha: a.alpha } };
      }
      if (a.activation === 'relu' || a.activation === 'relu6') {
        return {
          class_name: 'ReLU',
          config: {
            ...base,
            max_value: a.activation === 'relu6' ? 6 : null,
            ...(flavor !== 'tfjs' && { negative_slope: 0, threshold: 0 }),
          },
        };
      }
      return { class_name: cls, config: { ...base, activation: act() } };
    }
    default:
      throw new DigitsError(`${where}: layer ${l.name}: ${cls} cannot be written as a Keras config`);
  }
}
