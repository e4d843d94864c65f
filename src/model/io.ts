// Save and load in TF.js' Layers format: model.json (Keras topology, weights manifest, training
// config) beside weights.bin (float32 little-endian, in manifest order). TF.js' loadLayersModel reads
// what we write, and we read what TF.js writes for the layer types we support.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Sequential } from './sequential';
import { LAYER_CLASSES } from '../layers/registry';
import type { Layer } from '../layers/layer';
import { DigitsError } from '../errors';
import { makeOptimizer } from '../train/optimizers';

export const VERSION = '0.1.0';
const MAX_JSON_BYTES = 64 << 20;

/** What `digits` keeps beside the model (history, test accuracy, preset) in model.json's userDefinedMetadata. */
export type DigitsMetadata = Record<string, unknown>;

const snake = (s: string) => s.replace(/[A-Z]/g, (m) => `_${m.toLowerCase()}`).replace(/^_/, '');
const camel = (s: string) => s.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());

const INITIALIZERS: Record<string, Record<string, string>> = {
  Conv2D: { kernelInitializer: 'GlorotUniform', biasInitializer: 'Zeros' },
  Dense: { kernelInitializer: 'GlorotUniform', biasInitializer: 'Zeros' },
  BatchNormalization: { betaInitializer: 'Zeros', gammaInitializer: 'Ones', movingMeanInitializer: 'Zeros', movingVarianceInitializer: 'Ones' },
};

function layerJson(l: Layer, first: boolean, inputShape: number[]): Record<string, unknown> {
  const config: Record<string, unknown> = { name: l.name, trainable: true, dtype: 'float32' };
  if (first) config.batch_input_shape = [null, ...inputShape];
  for (const [k, v] of Object.entries(l.getConfig())) config[snake(k)] = v;
  for (const [k, cls] of Object.entries(INITIALIZERS[l.className] ?? {})) config[snake(k)] = { class_name: cls, config: cls === 'GlorotUniform' ? { seed: null } : {} };
  if (['Conv2D', 'MaxPooling2D', 'Flatten'].includes(l.className)) config.data_format = 'channels_last';
  if (l.className === 'Conv2D') config.dilation_rate = [1, 1];
  if (l.className === 'BatchNormalization') Object.assign(config, { axis: -1, center: true, scale: true });
  if (l.className === 'Dropout') Object.assign(config, { noise_shape: null, seed: null });
  return { class_name: l.className, config };
}

const TFJS_OPTIMIZER_CLASS: Record<string, string> = { RMSprop: 'RMSProp' };

export function toModelJson(model: Sequential, metadata?: DigitsMetadata): Record<string, unknown> {
  model.build();
  const weights = model.layers.flatMap((l) => l.weights.map((w) => ({ name: `${l.name}/${w.name}`, shape: w.shape, dtype: 'float32' })));
  const json: Record<string, unknown> = {
    format: 'layers-model',
    generatedBy: `digits ${VERSION}`,
    convertedBy: null,
    modelTopology: {
      class_name: 'Sequential',
      config: { name: model.name, layers: model.layers.map((l, i) => layerJson(l, i === 0, model.inputShape)) },
      keras_version: 'tfjs-layers 4.22.0',
      backend: 'tensor_flow.js',
    },
    weightsManifest: [{ paths: ['weights.bin'], weights }],
  };
  if (model.optimizer) {
    json.trainingConfig = {
      loss: model.loss,
      metrics: model.metrics,
      // TF.js looks optimizers up by its own class names ('RMSProp', not Keras' 'RMSprop')
      optimizer_config: { class_name: TFJS_OPTIMIZER_CLASS[model.optimizer.className] ?? model.optimizer.className, config: model.optimizer.getConfig() },
    };
  }
  if (metadata) json.userDefinedMetadata = { digits: metadata };
  return json;
}

export function weightsBuffer(model: Sequential): Buffer {
  model.build();
  const values = model.getWeights();
  const out = Buffer.alloc(values.reduce((s, v) => s + v.length * 4, 0));
  let o = 0;
  for (const v of values) for (let i = 0; i < v.length; i++, o += 4) out.writeFloatLE(v[i], o);
  return out;
}

function writeFileSynced(file: string, data: string | Buffer): void {
  const fd = fs.openSync(file, 'w');
  try { fs.writeFileSync(fd, data); fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
}

/** Write the model directory atomically: build it beside the target, then swap it in by rename. */
export function saveModel(model: Sequential, dir: string, metadata?: DigitsMetadata): void {
  const target = path.resolve(dir);
  const tmp = `${target}.tmp-${process.pid}-${Date.now()}`;
  const isModelDir = () => fs.statSync(target).isDirectory() && (fs.existsSync(path.join(target, 'model.json')) || fs.readdirSync(target).length === 0);
  if (fs.existsSync(target) && !isModelDir()) {
    throw new DigitsError(`${dir}: exists and is not a model directory (no model.json); not replacing it`);
  }
  let old: string | null = null;
  try {
    fs.mkdirSync(tmp, { recursive: true });
    writeFileSynced(path.join(tmp, 'weights.bin'), weightsBuffer(model));
    writeFileSynced(path.join(tmp, 'model.json'), JSON.stringify(toModelJson(model, metadata), null, 1));
    if (fs.existsSync(target)) {
      old = `${target}.old-${process.pid}-${Date.now()}`;
      fs.renameSync(target, old);
    }
    fs.renameSync(tmp, target);
  } catch (e) {
    try { fs.rmSync(tmp, { recursive: true, force: true }); } catch { /* nothing was staged */ }
    // put the previous model back if it was moved aside and the new one did not take its place
    if (old && !fs.existsSync(target)) { try { fs.renameSync(old, target); old = null; } catch { /* left at old */ } }
    throw new DigitsError(`${dir}: cannot save the model (${(e as Error).message.replace(/\s*\n\s*/g, ' ')})`);
  }
  if (old) fs.rmSync(old, { recursive: true, force: true });
}

function camelDeep(v: any): any {
  if (Array.isArray(v)) return v.map(camelDeep);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [camel(k), camelDeep(x)]));
  return v;
}

export interface LoadedModel {
  model: Sequential;
  metadata: DigitsMetadata | null;
}

/** Build a model from a parsed model.json and the concatenated weight bytes. `where` names the file in errors. */
export function fromModelJson(json: any, weightData: Uint8Array, where: string): LoadedModel {
  if (!json || typeof json !== 'object') throw new DigitsError(`${where}: not a JSON object`);
  let topo = json.modelTopology;
  if (!topo) throw new DigitsError(`${where}: no modelTopology (not a TF.js Layers model.json)`);
  if (topo.model_config) topo = topo.model_config;
  if (topo.class_name !== 'Sequential') throw new DigitsError(`${where}: model class '${topo.class_name}' is not supported (Sequential only)`);
  const layerList: any[] | undefined = Array.isArray(topo.config) ? topo.config : topo.config?.layers;
  if (!Array.isArray(layerList) || layerList.length === 0) throw new DigitsError(`${where}: modelTopology has no layers`);
  let inputShape: number[] | undefined;
  const layers: Layer[] = [];
  const bnAxes = new Map<Layer, number>();
  layerList.forEach((spec, i) => {
    const cls = spec?.class_name ?? spec?.className;
    const cfg = camelDeep(spec?.config ?? {});
    const lwhere = `${where}: layer ${i} (${cfg.name ?? cls})`;
    if (cls === 'InputLayer') {
      inputShape = (cfg.batchInputShape ?? cfg.batchShape)?.slice(1);
      return;
    }
    const make = LAYER_CLASSES[cls];
    if (!make) throw new DigitsError(`${lwhere}: unknown layer type '${cls}' (supported: ${Object.keys(LAYER_CLASSES).join(', ')})`);
    try {
      const layer = make(cfg, lwhere);
      if (cls === 'BatchNormalization') bnAxes.set(layer, [].concat(cfg.axis ?? -1)[0]);
      layers.push(layer);
    } catch (e) {
      if (e instanceof DigitsError && e.message.startsWith(lwhere)) throw e;
      throw new DigitsError(`${lwhere}: ${(e as Error).message}`);
    }
  });
  inputShape ??= layers[0]?.declaredInputShape;
  if (!inputShape || inputShape.some((d) => !(Number.isInteger(d) && d > 0))) throw new DigitsError(`${where}: the first layer has no usable batch_input_shape`);
  const model = new Sequential({ name: topo.config?.name ?? 'sequential', layers });
  model.build(inputShape);
  for (const [l, axis] of bnAxes) if (axis !== -1 && axis !== l.inputShape.length) throw new DigitsError(`${where}: layer ${l.name}: BatchNormalization axis ${axis} is not the channel axis`);
  loadWeights(model, json.weightsManifest, weightData, where);
  const tc = json.trainingConfig;
  if (tc?.loss && typeof tc.loss === 'string') {
    try {
      const oc = camelDeep(tc.optimizer_config ?? tc.optimizerConfig ?? {});
      model.compile({ optimizer: makeOptimizer(oc.className ?? 'adam', { ...oc.config, learningRate: oc.config?.learningRate ?? oc.config?.lr }), loss: tc.loss, metrics: tc.metrics });
    } catch {
      // an optimizer or loss we do not know leaves the model uncompiled; it still predicts
    }
  }
  return { model, metadata: json.userDefinedMetadata?.digits ?? null };
}

function loadWeights(model: Sequential, manifest: any, data: Uint8Array, where: string): void {
  if (!Array.isArray(manifest)) throw new DigitsError(`${where}: weightsManifest is missing or not a list`);
  const all: { name: string; shape: number[]; dtype?: string; quantization?: unknown; group?: string }[] = manifest.flatMap((g: any) => g?.weights ?? []);
  const byName = new Map<string, { offset: number; size: number; shape: number[] }>();
  let offset = 0;
  for (const s of all) {
    if (s.group === 'optimizer') {
      // TF.js' includeOptimizer appends optimizer state (an int32 'iter', slots) after the model's weights:
      // skip its bytes; the optimizer restarts from the trainingConfig
      if (!Array.isArray(s.shape) || s.quantization || !['float32', 'int32'].includes(s.dtype ?? 'float32')) throw new DigitsError(`${where}: optimizer weight ${s.name} cannot be skipped (dtype ${s.dtype})`);
      offset += s.shape.reduce((a: number, b: number) => a * b, 1) * 4;
      continue;
    }
    if (s.dtype && s.dtype !== 'float32') throw new DigitsError(`${where}: weight ${s.name} has dtype ${s.dtype} (float32 only)`);
    if (s.quantization) throw new DigitsError(`${where}: weight ${s.name} is quantized (not supported)`);
    if (!Array.isArray(s.shape) || s.shape.some((d) => !(Number.isInteger(d) && d >= 0))) throw new DigitsError(`${where}: weight ${s.name} has an invalid shape ${JSON.stringify(s.shape)}`);
    const size = s.shape.reduce((a, b) => a * b, 1);
    byName.set(s.name, { offset, size, shape: s.shape });
    offset += size * 4;
  }
  if (data.length < offset) throw new DigitsError(`${where}: weights data has ${data.length} bytes, the manifest needs ${offset} (truncated weights.bin?)`);
  if (data.length > offset) throw new DigitsError(`${where}: weights data has ${data.length} bytes, the manifest describes ${offset}`);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const ws = model.layers.flatMap((l) => l.weights.map((w) => ({ l, w })));
  const specs = all.filter((s) => s.group !== 'optimizer');
  if (specs.length !== ws.length) throw new DigitsError(`${where}: manifest lists ${specs.length} weights, the topology needs ${ws.length}`);
  ws.forEach(({ l, w }, i) => {
    // TF.js matches by name; fall back to order for files whose weight names carry other prefixes
    const spec = byName.get(`${l.name}/${w.name}`) ?? byName.get(specs[i].name)!;
    if (spec.size !== w.value.length || spec.shape.join() !== w.shape.join()) throw new DigitsError(`${where}: weight ${l.name}/${w.name} has shape [${spec.shape}] (${spec.size} values) in the manifest, the layer needs [${w.shape}] (${w.value.length})`);
    for (let j = 0; j < spec.size; j++) w.value[j] = view.getFloat32(spec.offset + 4 * j, true);
  });
}

/** Load a model directory (model.json + the weight files its manifest names). */
export function loadModel(dir: string): LoadedModel {
  const file = fs.existsSync(dir) && fs.statSync(dir).isDirectory() ? path.join(dir, 'model.json') : dir;
  let text: string;
  try {
    if (fs.statSync(file).size > MAX_JSON_BYTES) throw new DigitsError(`${file}: larger than ${MAX_JSON_BYTES >> 20} MiB, not a model.json`);
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if (e instanceof DigitsError) throw e;
    throw new DigitsError(`${file}: cannot read model (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let json: any;
  try { json = JSON.parse(text); } catch (e) { throw new DigitsError(`${file}: invalid JSON (${(e as Error).message.replace(/\s*\n\s*/g, ' ')})`); }
  const base = path.dirname(file);
  const paths: string[] = Array.isArray(json?.weightsManifest) ? json.weightsManifest.flatMap((g: any) => g?.paths ?? []) : [];
  const chunks = paths.map((p) => {
    if (typeof p !== 'string' || path.isAbsolute(p) || p.split(/[\\/]/).includes('..')) throw new DigitsError(`${file}: weight path ${JSON.stringify(p)} must be a relative file name`);
    try { return fs.readFileSync(path.join(base, p)); } catch (e) { throw new DigitsError(`${path.join(base, p)}: cannot read weights (${(e as NodeJS.ErrnoException).code})`); }
  });
  return fromModelJson(json, Buffer.concat(chunks), file);
}
