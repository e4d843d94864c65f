// Keras' `.keras` archive (Keras 3, and Keras 2.13–2.15's first version of it): a zip of metadata.json,
// config.json and model.weights.h5, whose variables sit at layers/<snake_case(class)>[_k]/vars/<i> —
// numbered by class in layer order, not by the layer's name. The same HDF5 layout is Keras 3's
// `*.weights.h5`. Zip through fflate, HDF5 through h5wasm: free of node:fs.
import { unzipSync, zipSync, strToU8, strFromU8 } from 'fflate';
import type { Sequential } from '../model/sequential';
import type { Layer } from '../layers/layer';
import type { Kernels } from '../kernels/kernels';
import { snakeCase } from '../layers/registry';
import { DigitsError } from '../errors';
import { openH5, writeH5, type H5File } from './hdf5';
import { buildModel, compileFromConfig, layerToKeras, oneLineErrors, parseModelConfig, KERAS3_VERSION } from './keras-config';
import { applyMetadata, type DigitsMetadata } from './tfjs-json';
import { assignLayerWeights, type LegacyModel } from './keras-h5';
import { keras3CompileConfig, readKeras3OptimizerVars, writeKeras3OptimizerVars } from './keras-optimizer';

/** Members past these sizes are refused before they are inflated (a zip bomb declares small, inflates big). */
const MAX_JSON = 64 << 20;
const MAX_WEIGHTS = 1 << 30;
/** Deflate cannot shrink data more than about 1032:1. */
const MAX_RATIO = 1100;

export function isZip(bytes: Uint8Array): boolean {
  return (
    bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && (bytes[2] === 3 || bytes[2] === 5) && (bytes[3] === 4 || bytes[3] === 6)
  );
}

/** The members we need, with sizes checked against the archive's real size before anything is inflated. */
function unzipMembers(bytes: Uint8Array, where: string): Map<string, Uint8Array> {
  const wanted: Record<string, number> = { 'config.json': MAX_JSON, 'metadata.json': MAX_JSON, 'model.weights.h5': MAX_WEIGHTS };
  let files: Record<string, Uint8Array>;
  // a central directory entry takes at least 46 bytes: a zip64 count of billions cannot be walked
  let entries = 0;
  try {
    files = unzipSync(bytes, {
      filter: (f) => {
        if (++entries > bytes.length / 46)
          throw new DigitsError(`${where}: the zip directory claims more entries than the archive can hold`);
        const name = f.name.replace(/\\/g, '/');
        const max = wanted[name];
        if (max === undefined) return false;
        // the declared compressed size may lie too: only the bytes really there can inflate
        const size = Math.min(f.size, bytes.length);
        const bound = f.compression === 0 ? size : size * MAX_RATIO + 65536;
        if (f.originalSize > max || f.originalSize > bound)
          throw new DigitsError(
            `${where}: member ${name} claims ${f.originalSize} bytes from ${f.size} compressed (over the limit; a zip bomb?)`,
          );
        if (f.compression !== 0 && f.compression !== 8)
          throw new DigitsError(`${where}: member ${name} uses zip compression method ${f.compression} (stored or deflated only)`);
        return true;
      },
    });
  } catch (e) {
    if (e instanceof DigitsError) throw e;
    throw new DigitsError(`${where}: not a readable zip archive (${(e as Error).message})`);
  }
  return new Map(Object.entries(files).map(([k, v]) => [k.replace(/\\/g, '/'), v]));
}

function parseJson(bytes: Uint8Array, where: string, member: string): any {
  try {
    return JSON.parse(strFromU8(bytes));
  } catch (e) {
    throw new DigitsError(`${where}: ${member} is not valid JSON (${(e as Error).message})`);
  }
}

/**
 * Keras 3 numbers the groups of a list of layers by class: conv2d, conv2d_1, …, dense, dense_1. Keras
 * 2.13's `_layer_checkpoint_dependencies` lists each layer with weights twice and the second visit takes
 * a number too (conv, conv → conv2d, conv2d_2): `doubled` numbers that way.
 */
export function layerPaths(layers: Layer[], doubled = false): string[] {
  const used = new Map<string, number>();
  return layers.map((l) => {
    const base = snakeCase(l.className);
    const k = used.get(base);
    used.set(base, (k ?? -1) + (doubled && l.weights.length > 0 ? 2 : 1));
    return k === undefined ? base : `${base}_${k + 1}`;
  });
}

/**
 * The vars group of a logical path (['layers', 'conv2d']): nested groups, or — in files saved on
 * Windows, where Keras joined the path with os.path.join — one group named `layers\conv2d`.
 */
function varsGroup(f: H5File, parts: string[]): string | null {
  for (const p of [`/${parts.join('/')}/vars`, `/${parts.join('\\')}/vars`]) if (f.isGroup(p)) return p;
  return null;
}

/** Reads every layer's variables from a model.weights.h5 / *.weights.h5 into the built model. */
export function readKeras3Weights(f: H5File, model: Sequential): void {
  const container = ['layers', '_layer_checkpoint_dependencies'].find(
    (c) => f.isGroup(`/${c}`) || f.keys('/').some((k) => k.startsWith(`${c}\\`)),
  );
  if (!container) throw new DigitsError(`${f.where}: no layers group (not a Keras 3 weights file)`);
  const paths = layerPaths(model.layers);
  const doubled = container === '_layer_checkpoint_dependencies' ? layerPaths(model.layers, true) : paths;
  model.layers.forEach((layer, i) => {
    const group = varsGroup(f, [container, doubled[i]]) ?? varsGroup(f, [container, paths[i]]);
    if (!group) {
      if (layer.weights.length === 0) return;
      throw new DigitsError(`${f.where}: no variables for layer ${layer.name} (${layer.className}) at ${container}/${paths[i]}/vars`);
    }
    const n = f.keys(group).filter((k) => /^\d+$/.test(k)).length;
    const values = Array.from({ length: n }, (_v, j) => ({ name: `${container}/${paths[i]}/vars/${j}`, ...readVar(f, `${group}/${j}`) }));
    assignLayerWeights(f, layer, values);
  });
}

function readVar(f: H5File, path: string): { shape: number[]; data: Float32Array } {
  if (!f.isDataset(path)) throw new DigitsError(`${f.where}: ${path} is not a dataset`);
  return f.readFloat32(path);
}

export type ArchiveModel = LegacyModel;

/** A `.keras` archive → a built, weighted, compiled model. */
export function readKerasArchive(bytes: Uint8Array, where: string, kernels?: Kernels): Promise<ArchiveModel> {
  return oneLineErrors(where, () => readArchive(bytes, where, kernels));
}

async function readArchive(bytes: Uint8Array, where: string, kernels?: Kernels): Promise<ArchiveModel> {
  const members = unzipMembers(bytes, where);
  for (const m of ['config.json', 'model.weights.h5'])
    if (!members.has(m)) throw new DigitsError(`${where}: the archive has no ${m} (not a Keras .keras file, or an incomplete one)`);
  const config = parseJson(members.get('config.json')!, where, 'config.json');
  const meta = members.has('metadata.json') ? parseJson(members.get('metadata.json')!, where, 'metadata.json') : {};
  const kerasVersion = typeof meta?.keras_version === 'string' ? meta.keras_version : '';
  const notes: string[] = [];
  const spec = parseModelConfig(config, `${where}: config.json`, { keras3: !/^2\./.test(kerasVersion), notes });
  const weightsBytes = members.get('model.weights.h5')!;
  const model = buildModel(spec, `${where}: config.json`, weightsBytes.length / 2 + 1024, kernels);
  const f = await openH5(weightsBytes, `${where}: model.weights.h5`);
  try {
    readKeras3Weights(f, model);
    const { optimizerNote } = compileFromConfig(model, config?.compile_config);
    const metadata = (meta?.digits as DigitsMetadata | undefined) ?? null;
    applyMetadata(model, metadata);
    const optimizerSlots = model.optimizer && !optimizerNote ? readKeras3OptimizerVars(f, model, kerasVersion) : undefined;
    return { model, metadata, notes, optimizerNote, kerasVersion, optimizerSlots };
  } finally {
    f.close();
  }
}

/** Keras 3's config.json for our model: a Sequential with an InputLayer, as Keras' serialize_keras_object writes it. */
export function keras3Config(model: Sequential, where = '.keras'): Record<string, unknown> {
  model.build();
  const batchShape = [null, ...model.inputShape];
  const layers: unknown[] = [
    {
      module: 'keras.layers',
      class_name: 'InputLayer',
      config: { batch_shape: batchShape, dtype: 'float32', sparse: false, name: 'input_layer' },
      registered_name: null,
    },
  ];
  for (const l of model.layers) {
    const { class_name, config } = layerToKeras(l, 'keras3', where);
    layers.push({
      module: 'keras.layers',
      class_name,
      config,
      registered_name: null,
      build_config: { input_shape: [null, ...l.inputShape] },
    });
  }
  return {
    module: 'keras',
    class_name: 'Sequential',
    config: { name: model.name, trainable: true, dtype: 'float32', layers, build_input_shape: batchShape },
    registered_name: null,
    build_config: { input_shape: batchShape },
    ...(model.optimizer && { compile_config: keras3CompileConfig(model) }),
  };
}

/** model.weights.h5 (or a *.weights.h5): every layer's vars group, the model's own, and the optimizer's. */
export function writeKeras3Weights(model: Sequential, withOptimizer: boolean): Promise<Uint8Array> {
  const paths = layerPaths(model.layers);
  return writeH5((w) => {
    w.group('/layers');
    model.layers.forEach((l, i) => {
      w.group(`/layers/${paths[i]}/vars`);
      l.weights.forEach((x, j) => w.dataset(`/layers/${paths[i]}/vars/${j}`, x.value, x.shape));
    });
    w.group('/vars');
    if (withOptimizer && model.optimizer) writeKeras3OptimizerVars(w, model);
  });
}

/** Our model as Keras 3's model.save('m.keras') writes it; `metadata` rides in metadata.json under "digits". */
export async function writeKerasArchive(
  model: Sequential,
  metadata?: DigitsMetadata,
  where = '.keras',
  date = new Date(),
): Promise<Uint8Array> {
  const config = keras3Config(model, where);
  const weights = await writeKeras3Weights(model, true);
  const stamp = date.toISOString().replace('T', '@').slice(0, 19); // Keras: %Y-%m-%d@%H:%M:%S
  const meta = { keras_version: KERAS3_VERSION, date_saved: stamp, ...(metadata && { digits: metadata }) };
  // Keras stores all three members uncompressed, in this order; a fixed date keeps the bytes reproducible
  const mtime = new Date(1980, 0, 1);
  return zipSync({
    'metadata.json': [strToU8(JSON.stringify(meta)), { level: 0, mtime }],
    'config.json': [strToU8(JSON.stringify(config)), { level: 0, mtime }],
    'model.weights.h5': [weights, { level: 0, mtime }],
  });
}

/** A Keras 3 `*.weights.h5` onto `model` (already built with the architecture it was saved from). */
export async function readKeras3WeightsFile(bytes: Uint8Array, where: string, model: Sequential): Promise<void> {
  const f = await openH5(bytes, where);
  try {
    readKeras3Weights(f, model);
  } finally {
    f.close();
  }
}
