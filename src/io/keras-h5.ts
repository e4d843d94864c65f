// Keras' legacy HDF5 format (model.save('m.h5'), and model.save_weights('w.h5') in Keras 2), as standalone
// Keras 2.2, tf.keras 2.x and Keras 3's legacy saver write it: root attributes model_config (JSON),
// training_config, keras_version; group model_weights with layer_names, and per layer a group with
// weight_names whose datasets hold the values; optional optimizer_weights. Free of node:fs.
import type { Sequential } from '../model/sequential';
import type { Layer, Weight } from '../layers/layer';
import type { Kernels } from '../kernels/kernels';
import { DigitsError } from '../errors';
import { H5File, writeH5, type H5Writer } from './hdf5';
import { buildModel, compileFromConfig, layerToKeras, oneLineErrors, parseModelConfig, KERAS2_VERSION } from './keras-config';
import { applyMetadata, type DigitsMetadata, type LoadedModel } from './tfjs-json';
import { keras2TrainingConfig, readLegacyOptimizerWeights, type OptimizerSlots } from './keras-optimizer';

/** A list attribute, joining the chunks (`layer_names0`, `layer_names1`, …) Keras splits past 64 KB into. */
export function listAttr(f: H5File, path: string, name: string): string[] {
  const parts: unknown[] = [];
  const whole = f.attr(path, name);
  if (whole !== null) parts.push(whole);
  else for (let i = 0; f.attr(path, `${name}${i}`) !== null; i++) parts.push(f.attr(path, `${name}${i}`));
  // a weightless layer's weight_names is an empty float64 array
  return parts.flatMap((p) => (Array.isArray(p) ? p : [p])).filter((v): v is string => typeof v === 'string');
}

function stringAttr(f: H5File, path: string, name: string): string | null {
  const v = f.attr(path, name);
  if (v === null) return null;
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && v.length === 1 && typeof v[0] === 'string') return v[0];
  throw new DigitsError(`${f.where}: attribute ${name} is not a string`);
}

function parseJsonAttr(f: H5File, name: string): any {
  const text = stringAttr(f, '/', name);
  if (text === null) return null;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new DigitsError(`${f.where}: attribute ${name} is not valid JSON (${(e as Error).message})`);
  }
}

/** One layer's values in weight_names order, checked against what the layer built. */
export function assignLayerWeights(f: H5File, layer: Layer, values: { name: string; shape: number[]; data: Float32Array }[]): void {
  if (values.length !== layer.weights.length) {
    throw new DigitsError(
      `${f.where}: layer ${layer.name} (${layer.className}) has ${values.length} weights in the file, the layer needs ${layer.weights.length} (${layer.weights.map((w) => w.name).join(', ')})`,
    );
  }
  layer.weights.forEach((w: Weight, i) => {
    const v = values[i];
    if (v.shape.join() !== w.shape.join())
      throw new DigitsError(`${f.where}: weight ${v.name} of layer ${layer.name} has shape [${v.shape}], the layer needs [${w.shape}]`);
    const bad = v.data.findIndex((x) => !Number.isFinite(x));
    if (bad >= 0) throw new DigitsError(`${f.where}: weight ${v.name} of layer ${layer.name} holds ${v.data[bad]} at index ${bad}`);
    // weights go by position, as Keras assigns them: a variance that is negative is another variable in its place
    const negative = w.name === 'moving_variance' ? v.data.findIndex((x) => x < 0) : -1;
    if (negative >= 0)
      throw new DigitsError(
        `${f.where}: weight ${v.name} of layer ${layer.name} holds ${v.data[negative]} at index ${negative}, but it is the layer's moving_variance (a variance is never negative)`,
      );
    w.value.set(v.data);
  });
}

/**
 * Reads the layer groups under `root` (model_weights, or / for save_weights files) into the model. Keras
 * matches layers with weights in order; names decide first here, so a renamed-but-reordered file still fails.
 */
export function readLegacyWeights(f: H5File, model: Sequential, root: string): void {
  const names = listAttr(f, root, 'layer_names');
  if (names.length === 0) throw new DigitsError(`${f.where}: ${root} has no layer_names (not a Keras weights group)`);
  const weighted = names.filter((n) => listAttr(f, `${root}/${n}`, 'weight_names').length > 0);
  const ours = model.layers.filter((l) => l.weights.length > 0);
  if (weighted.length !== ours.length) {
    throw new DigitsError(
      `${f.where}: the file has weights for ${weighted.length} layers (${weighted.join(', ')}), the model has ${ours.length} layers with weights`,
    );
  }
  const byName = ours.every((l) => weighted.includes(l.name));
  ours.forEach((layer, i) => {
    const group = `${root}/${byName ? layer.name : weighted[i]}`;
    const values = listAttr(f, group, 'weight_names').map((wn) => {
      const path = `${group}/${wn}`;
      if (!f.isDataset(path)) throw new DigitsError(`${f.where}: weight ${wn} of layer ${layer.name} is missing (no dataset ${path})`);
      return { name: wn, ...f.readFloat32(path) };
    });
    assignLayerWeights(f, layer, values);
  });
}

export interface LegacyModel extends LoadedModel {
  kerasVersion: string;
  /** Optimizer slots from optimizer_weights, by our weight names, when the file has them. */
  optimizerSlots?: OptimizerSlots;
}

/** A full-model legacy HDF5 file (root attribute model_config) → a built, weighted, compiled model. */
export function readLegacyModel(f: H5File, fileBytes: number, kernels?: Kernels): LegacyModel {
  return oneLineErrors(f.where, () => readModel(f, fileBytes, kernels));
}

function readModel(f: H5File, fileBytes: number, kernels?: Kernels): LegacyModel {
  const config = parseJsonAttr(f, 'model_config');
  if (config === null) {
    const kind =
      f.attr('/', 'layer_names') !== null || f.isGroup('/layers') || f.isGroup('/_layer_checkpoint_dependencies')
        ? 'holds weights only (no model_config): load it onto an architecture with --weights'
        : 'is an HDF5 file but not a Keras model (no model_config attribute)';
    throw new DigitsError(`${f.where}: ${kind}`);
  }
  const kerasVersion = stringAttr(f, '/', 'keras_version') ?? '';
  const notes: string[] = [];
  const spec = parseModelConfig(config, f.where, { keras3: /^3\./.test(kerasVersion), notes });
  // the smallest stored weight is 2 bytes (float16): more values than that cannot be in the file
  const model = buildModel(spec, f.where, fileBytes / 2 + 1024, kernels);
  readLegacyWeights(f, model, f.isGroup('/model_weights') ? '/model_weights' : '/');
  const { optimizerNote } = compileFromConfig(model, parseJsonAttr(f, 'training_config'));
  const metadata = (parseJsonAttr(f, 'digits_metadata') as DigitsMetadata | null) ?? null;
  applyMetadata(model, metadata);
  const optimizerSlots =
    f.isGroup('/optimizer_weights') && model.optimizer && !optimizerNote ? readLegacyOptimizerWeights(f, model) : undefined;
  return { model, metadata, notes, optimizerNote, kerasVersion, optimizerSlots };
}

/** HDF5 keeps attributes in the object header, which holds 64 KiB: Keras splits longer lists (as numpy's array_split). */
const HEADER_LIMIT = 64512;

function writeNameList(w: H5Writer, path: string, name: string, values: string[]): void {
  const width = Math.max(1, ...values.map((v) => new TextEncoder().encode(v).length));
  let chunks = 1;
  while (Math.ceil(values.length / chunks) * width > HEADER_LIMIT) chunks++;
  if (chunks === 1) {
    w.attrBytesList(path, name, values);
    return;
  }
  // array_split: the first (length % chunks) chunks hold one more
  const base = Math.floor(values.length / chunks),
    extra = values.length % chunks;
  for (let c = 0, at = 0; c < chunks; c++) {
    const n = base + (c < extra ? 1 : 0);
    w.attrBytesList(path, `${name}${c}`, values.slice(at, at + n));
    at += n;
  }
}

/** Keras 2's weight group layout for one model (model_weights in a full file, the root in save_weights). */
function writeWeightGroups(w: H5Writer, model: Sequential, root: string): void {
  writeNameList(
    w,
    root,
    'layer_names',
    model.layers.map((l) => l.name),
  );
  w.attrBytes(root, 'backend', 'tensorflow');
  w.attrBytes(root, 'keras_version', KERAS2_VERSION);
  for (const l of model.layers) {
    const group = `${root === '/' ? '' : root}/${l.name}`;
    w.group(group);
    writeNameList(
      w,
      group,
      'weight_names',
      l.weights.map((x) => `${l.name}/${x.name}:0`),
    );
    for (const x of l.weights) w.dataset(`${group}/${l.name}/${x.name}:0`, x.value, x.shape);
  }
  // tf.keras 2.11+ always writes the model's own (here: no) weights; both loaders accept it
  const top = `${root === '/' ? '' : root}/top_level_model_weights`;
  w.group(top);
  w.attrBytesList(top, 'weight_names', []);
}

/** Python's json.dumps: non-ASCII characters escaped, so the bytes Keras writes are ASCII. */
function asciiJson(v: unknown): string {
  return JSON.stringify(v).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * Our model as tf.keras 2.x's model.save('m.h5') writes it, which tf.keras 2.x and Keras 3 both load:
 * Sequential config with an InputLayer, layer_names/weight_names as fixed-length byte strings (the
 * oldest loaders decode them as bytes), the training config when compiled; `metadata` goes in an extra
 * root attribute that Keras ignores.
 */
export function writeLegacyModel(model: Sequential, metadata?: DigitsMetadata, where = 'legacy .h5'): Promise<Uint8Array> {
  model.build();
  // the input shape goes on the InputLayer only: Keras 3 warns about batch_input_shape on any other layer
  const layers = model.layers.map((l) => layerToKeras(l, 'keras2', where));
  const input = {
    class_name: 'InputLayer',
    config: {
      batch_input_shape: [null, ...model.inputShape],
      dtype: 'float32',
      sparse: false,
      ragged: false,
      name: `${model.layers[0].name}_input`,
    },
  };
  const modelConfig = { class_name: 'Sequential', config: { name: model.name, layers: [input, ...layers] } };
  return writeH5((w) => {
    w.attrString('/', 'keras_version', KERAS2_VERSION);
    w.attrString('/', 'backend', 'tensorflow');
    w.attrBytes('/', 'model_config', asciiJson(modelConfig));
    if (model.optimizer) w.attrBytes('/', 'training_config', asciiJson(keras2TrainingConfig(model)));
    if (metadata) w.attrBytes('/', 'digits_metadata', asciiJson(metadata));
    w.group('/model_weights');
    writeWeightGroups(w, model, '/model_weights');
  });
}
