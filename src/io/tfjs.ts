// Save and load in TF.js' Layers format: model.json (Keras topology, weights manifest, training
// config) beside weights.bin (float32 little-endian, in manifest order). TF.js' loadLayersModel reads
// what we write, and we read what TF.js writes for the layer types we support.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Sequential } from '../model/sequential';
import type { Layer } from '../layers/layer';
import { DigitsError } from '../errors';
import { writeFileSynced, mkdirp } from '../fsutil';
// parsing lives in json.ts, free of node:fs, so the browser bundle can load models too
import { fromModelJson, type DigitsMetadata, type LoadedModel } from './tfjs-json';
import { layerToKeras, KERAS3_VERSION, oneLineErrors, type Flavor } from './keras-config';
export { fromModelJson, type DigitsMetadata, type LoadedModel } from './tfjs-json';

export const VERSION = '0.1.0';
const MAX_JSON_BYTES = 64 << 20;
const MAX_WEIGHTS_BYTES = 1 << 30;

function layerJson(l: Layer, first: boolean, inputShape: number[], flavor: Flavor): Record<string, unknown> {
  const { class_name, config } = layerToKeras(l, flavor, 'model.json');
  return { class_name, config: first ? { batch_input_shape: [null, ...inputShape], ...config } : config };
}

// TF.js has no AdamW; Keras' Adam takes the same decoupled weight_decay, so an AdamW is saved as the
// Adam it is (TF.js ignores weight_decay; our loader reads it back)
const TFJS_OPTIMIZER_CLASS: Record<string, string> = { RMSprop: 'RMSProp', AdamW: 'Adam' };

/**
 * model.json for TF.js. `flavor` 'keras3' writes Keras 3 layer configs instead, which our own reader (the
 * page) takes: for models with activations TF.js has no name for.
 */
export function toModelJson(model: Sequential, metadata?: DigitsMetadata, flavor: Flavor = 'tfjs'): Record<string, unknown> {
  model.build();
  const weights = model.layers.flatMap((l) => l.weights.map((w) => ({ name: `${l.name}/${w.name}`, shape: w.shape, dtype: 'float32' })));
  const json: Record<string, unknown> = {
    format: 'layers-model',
    generatedBy: `digits ${VERSION}`,
    convertedBy: null,
    modelTopology: {
      class_name: 'Sequential',
      config: { name: model.name, layers: model.layers.map((l, i) => layerJson(l, i === 0, model.inputShape, flavor)) },
      keras_version: flavor === 'keras3' ? KERAS3_VERSION : 'tfjs-layers 4.22.0',
      backend: 'tensor_flow.js',
    },
    weightsManifest: [{ paths: ['weights.bin'], weights }],
  };
  if (model.optimizer) {
    json.trainingConfig = {
      loss: model.loss,
      metrics: model.metrics,
      // Keras keeps this on the loss object; TF.js reads only the keys it knows, so an extra one is safe
      ...(model.labelSmoothing > 0 && { label_smoothing: model.labelSmoothing }),
      ...(model.fromLogits && { from_logits: true }),
      // TF.js looks optimizers up by its own class names ('RMSProp', not Keras' 'RMSprop')
      optimizer_config: {
        class_name: TFJS_OPTIMIZER_CLASS[model.optimizer.className] ?? model.optimizer.className,
        config: model.optimizer.getConfig(),
      },
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

/** Write the model directory atomically: build it beside the target, then swap it in by rename. */
export function saveModel(model: Sequential, dir: string, metadata?: DigitsMetadata): void {
  const target = path.resolve(dir);
  const tmp = `${target}.tmp-${process.pid}-${Date.now()}`;
  const isModelDir = () =>
    fs.statSync(target).isDirectory() && (fs.existsSync(path.join(target, 'model.json')) || fs.readdirSync(target).length === 0);
  if (fs.existsSync(target) && !isModelDir()) {
    throw new DigitsError(`${dir}: exists and is not a model directory (no model.json); not replacing it`);
  }
  let old: string | null = null;
  try {
    mkdirp(tmp);
    writeFileSynced(path.join(tmp, 'weights.bin'), weightsBuffer(model));
    writeFileSynced(path.join(tmp, 'model.json'), JSON.stringify(toModelJson(model, metadata), null, 1));
    if (fs.existsSync(target)) {
      old = `${target}.old-${process.pid}-${Date.now()}`;
      fs.renameSync(target, old);
    }
    fs.renameSync(tmp, target);
  } catch (e) {
    try {
      fs.rmSync(tmp, { recursive: true, force: true });
    } catch {
      /* nothing was staged */
    }
    // put the previous model back if it was moved aside and the new one did not take its place
    if (old && !fs.existsSync(target)) {
      try {
        fs.renameSync(old, target);
        old = null;
      } catch {
        /* left at old */
      }
    }
    throw new DigitsError(`${dir}: cannot save the model (${(e as Error).message.replace(/\s*\n\s*/g, ' ')})`);
  }
  if (old) fs.rmSync(old, { recursive: true, force: true });
}

/** Regular files only, and no larger than `max`: a symlink to /dev/zero or a stray huge file must not be read whole. */
function readBounded(file: string, max: number, what: string): Buffer {
  const st = fs.statSync(file);
  if (!st.isFile()) throw new DigitsError(`${file}: not a regular file, ${what}`);
  if (st.size > max) throw new DigitsError(`${file}: larger than ${max >> 20} MiB, ${what}`);
  return fs.readFileSync(file);
}

/** saveModel swaps directories with two renames; a kill between them leaves the old model beside the target. */
function interruptedSave(dir: string): string {
  const target = path.resolve(dir);
  let left: string | undefined;
  try {
    left = fs.readdirSync(path.dirname(target)).find((n) => n.startsWith(`${path.basename(target)}.old-`));
  } catch {
    /* no parent */
  }
  return left ? `; an interrupted save left the previous model in ${path.join(path.dirname(target), left)}` : '';
}

/**
 * Load a model directory (model.json + the weight files its manifest names). Its errors quote names from
 * the file, which may hold line breaks: they come out one line, as the Keras readers' do.
 */
export function loadModel(dir: string): LoadedModel {
  return oneLineErrors(dir, () => readModelDir(dir));
}

function readModelDir(dir: string): LoadedModel {
  const file = fs.existsSync(dir) && fs.statSync(dir).isDirectory() ? path.join(dir, 'model.json') : dir;
  let text: string;
  try {
    text = readBounded(file, MAX_JSON_BYTES, 'not a model.json').toString('utf8');
  } catch (e) {
    if (e instanceof DigitsError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new DigitsError(`${file}: cannot read model (${code ?? (e as Error).message})${code === 'ENOENT' ? interruptedSave(dir) : ''}`);
  }
  let json: any;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new DigitsError(`${file}: invalid JSON (${(e as Error).message.replace(/\s*\n\s*/g, ' ')})`);
  }
  const base = path.dirname(file);
  const paths: string[] = Array.isArray(json?.weightsManifest) ? json.weightsManifest.flatMap((g: any) => g?.paths ?? []) : [];
  const chunks = paths.map((p) => {
    if (typeof p !== 'string' || path.isAbsolute(p) || p.split(/[\\/]/).includes('..'))
      throw new DigitsError(`${file}: weight path ${JSON.stringify(p)} must be a relative file name`);
    try {
      return readBounded(path.join(base, p), MAX_WEIGHTS_BYTES, 'not a weights file');
    } catch (e) {
      if (e instanceof DigitsError) throw e;
      throw new DigitsError(`${path.join(base, p)}: cannot read weights (${(e as NodeJS.ErrnoException).code})`);
    }
  });
  return fromModelJson(json, Buffer.concat(chunks), file);
}
