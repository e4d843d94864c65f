// Every model file a command accepts, chosen by what the file is (its magic bytes), not by its name:
// a TF.js directory or model.json, Keras' legacy HDF5 (.h5, and TF ≤ 2.11's HDF5 under a .keras name),
// Keras' .keras zip; weights-only files go onto an architecture given by a preset or another model file.
// Saving picks the format from the output's extension; every write is atomic (temp file, fsync, rename).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Sequential } from '../model/sequential';
import { DigitsError } from '../errors';
import { checkWritableTarget, fsyncDir, writeFileSynced } from '../fsutil';
import { isHdf5, openH5 } from './hdf5';
import { readLegacyModel, readLegacyWeights, writeLegacyModel, type LegacyModel } from './keras-h5';
import { isZip, readKeras3Weights, readKerasArchive, writeKeras3Weights, writeKerasArchive } from './keras-v3';
import { loadModel as loadTfjsDir, saveModel as saveTfjsDir, VERSION } from './tfjs';
import type { DigitsMetadata } from './tfjs-json';
import { buildModel, oneLineErrors, parseModelConfig } from './keras-config';

/** Keras files are small; past this a file is refused before it is read. */
const MAX_FILE = 1 << 30;

export type ModelFormat = 'tfjs' | 'h5' | 'keras' | 'onnx';

export interface LoadedFile extends LegacyModel {
  format: 'tfjs' | 'h5' | 'keras';
}

function readBounded(file: string, what: string): Buffer {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    throw new DigitsError(`${file}: cannot read ${what} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (!st.isFile()) throw new DigitsError(`${file}: not a regular file`);
  if (st.size > MAX_FILE) throw new DigitsError(`${file}: larger than ${MAX_FILE >> 20} MiB, not a model file`);
  return fs.readFileSync(file);
}

/** A model directory, model.json, .h5 or .keras file → the loaded model, whatever its extension says. */
export function loadModelFile(file: string): Promise<LoadedFile> {
  return oneLineErrors(file, () => loadFile(file));
}

async function loadFile(file: string): Promise<LoadedFile> {
  if (fs.existsSync(file) && fs.statSync(file).isDirectory()) return { ...loadTfjsDir(file), format: 'tfjs', kerasVersion: '' };
  const bytes = readBounded(file, 'the model');
  if (isHdf5(bytes)) {
    const f = await openH5(bytes, file);
    try {
      return { ...readLegacyModel(f, bytes.length), format: 'h5' };
    } finally {
      f.close();
    }
  }
  if (isZip(bytes)) return { ...(await readKerasArchive(bytes, file)), format: 'keras' };
  if (/^\s*\{/.test(bytes.subarray(0, 64).toString('latin1'))) {
    if (isArchitectureJson(bytes))
      throw new DigitsError(`${file}: a Keras architecture without weights (model.to_json()): give the weights with --weights FILE`);
    return { ...loadTfjsDir(file), format: 'tfjs', kerasVersion: '' };
  }
  throw new DigitsError(`${file}: not a model file (neither HDF5, a zip archive nor JSON: a model directory, model.json, .h5 or .keras)`);
}

/** Keras' model.to_json(): a model config with no weights manifest (TF.js model.json has modelTopology). */
function isArchitectureJson(bytes: Uint8Array): boolean {
  try {
    const j = JSON.parse(Buffer.from(bytes).toString('utf8'));
    return !!j && typeof j === 'object' && !j.modelTopology && typeof j.class_name === 'string';
  } catch {
    return false;
  }
}

/**
 * A model to receive weights from `weightsFile`: any model file, or Keras' model.to_json() architecture
 * (the classic pair model.json + save_weights('model.h5')), built with its layers' initial weights.
 */
export function loadArchitecture(file: string, weightsFile: string): Promise<LoadedFile> {
  return oneLineErrors(weightsFile, () => loadArchitectureOf(file, weightsFile));
}

async function loadArchitectureOf(file: string, weightsFile: string): Promise<LoadedFile> {
  if (fs.existsSync(file) && fs.statSync(file).isFile()) {
    const bytes = readBounded(file, 'the architecture');
    if (isArchitectureJson(bytes)) {
      const json = JSON.parse(bytes.toString('utf8'));
      const kerasVersion = typeof json.keras_version === 'string' ? json.keras_version : '';
      const notes: string[] = [];
      const spec = parseModelConfig(json, file, { keras3: /^3\./.test(kerasVersion), notes });
      // the weights file bounds what the architecture may allocate; what it cannot hold is the weights file's fault
      let size: number;
      try {
        size = fs.statSync(weightsFile).size;
      } catch (e) {
        throw new DigitsError(`${weightsFile}: cannot read the weights (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      }
      let model: Sequential;
      try {
        model = buildModel(spec, file, size / 2 + 1024);
      } catch (e) {
        if (e instanceof DigitsError && e.message.includes('more than the weights data holds')) {
          throw new DigitsError(`${weightsFile}: ${size} bytes cannot hold the weights of ${file} (${e.message.slice(file.length + 2)})`);
        }
        throw e;
      }
      return { model, metadata: null, notes, format: 'tfjs', kerasVersion };
    }
  }
  return loadFile(file);
}

/**
 * Weights saved on their own (Keras 3 `*.weights.h5`, Keras 2 `save_weights('w.h5')`, or any full model
 * file) onto `model`, built with the architecture they were saved from.
 */
export function loadWeightsInto(model: Sequential, file: string): Promise<void> {
  return oneLineErrors(file, () => loadWeights(model, file));
}

async function loadWeights(model: Sequential, file: string): Promise<void> {
  const bytes = readBounded(file, 'the weights');
  if (!isHdf5(bytes)) {
    const other = (await loadModelFile(file)).model;
    model.setWeights(other.getWeights());
    return;
  }
  const f = await openH5(bytes, file);
  try {
    if (f.isGroup('/model_weights')) readLegacyWeights(f, model, '/model_weights');
    else if (f.attr('/', 'layer_names') !== null || f.attr('/', 'layer_names0') !== null) readLegacyWeights(f, model, '/');
    else readKeras3Weights(f, model);
  } finally {
    f.close();
  }
}

/** The format an output path asks for: .h5, .keras, .onnx, else a TF.js model directory. */
export function formatFor(out: string): ModelFormat {
  const ext = path.extname(out).toLowerCase();
  return ext === '.h5' || ext === '.hdf5' ? 'h5' : ext === '.keras' ? 'keras' : ext === '.onnx' ? 'onnx' : 'tfjs';
}

/** Our metadata, with what the layers cannot say (a model fed raw 0–255 pixels). */
function withModelFacts(model: Sequential, metadata?: DigitsMetadata | null): DigitsMetadata | undefined {
  if (model.inputScale === 255) return { ...(metadata ?? {}), rawPixels: true };
  return metadata ?? undefined;
}

/** Writes `bytes` to `file` through a temp file beside it, so a crash leaves the old file or the new one. */
export function writeAtomic(file: string, bytes: Uint8Array): void {
  const target = path.resolve(file);
  const tmp = `${target}.tmp-${process.pid}-${Date.now()}`;
  try {
    writeFileSynced(tmp, bytes);
    fs.renameSync(tmp, target);
    fsyncDir(path.dirname(target));
  } catch (e) {
    try {
      fs.rmSync(tmp, { force: true });
    } catch {
      /* nothing was written */
    }
    throw new DigitsError(`${file}: cannot write (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/** The bytes of `model` in a single-file format. */
export async function modelBytes(
  model: Sequential,
  format: Exclude<ModelFormat, 'tfjs'>,
  metadata?: DigitsMetadata | null,
  where?: string,
): Promise<Uint8Array> {
  const meta = withModelFacts(model, metadata);
  if (format === 'h5') return writeLegacyModel(model, meta, where);
  if (format === 'keras') return writeKerasArchive(model, meta, where);
  // protobufjs loads when an ONNX file is written, not with every start of the CLI
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on use
  const { toOnnx } = require('./onnx') as typeof import('./onnx');
  return toOnnx(model, { producerVersion: VERSION });
}

/** Saves in the format `out`'s extension names (`*.weights.h5`: Keras 3 weights only). */
export async function saveModelFile(model: Sequential, out: string, metadata?: DigitsMetadata | null): Promise<ModelFormat> {
  const format = formatFor(out);
  if (format === 'tfjs') {
    saveTfjsDir(model, out, withModelFacts(model, metadata));
    return format;
  }
  const dir = path.dirname(path.resolve(out));
  if (!fs.existsSync(dir)) throw new DigitsError(`${out}: the directory ${dir} does not exist`);
  if (fs.existsSync(out) && fs.statSync(out).isDirectory()) throw new DigitsError(`${out}: is a directory; a ${format} model is one file`);
  const bytes = /\.weights\.h5$/i.test(out) ? await writeKeras3Weights(model, false) : await modelBytes(model, format, metadata, out);
  writeAtomic(out, bytes);
  return format;
}

/**
 * Refuses, before any work, an output that cannot be written: see checkWritableTarget; a single-file
 * format must not replace a directory, and a TF.js directory must not replace anything but a model.
 */
export function checkOutputPath(out: string, dataDir?: string, what = 'output'): void {
  checkWritableTarget(out, what, dataDir);
  const target = path.resolve(out);
  if (!fs.existsSync(target)) return;
  const isDir = fs.statSync(target).isDirectory();
  if (formatFor(out) !== 'tfjs' && isDir) throw new DigitsError(`${what} ${out}: is a directory; a ${formatFor(out)} model is one file`);
  if (formatFor(out) === 'tfjs' && (!isDir || (!fs.existsSync(path.join(target, 'model.json')) && fs.readdirSync(target).length > 0))) {
    throw new DigitsError(`${what} ${out}: exists and is not a model directory (no model.json); not replacing it`);
  }
}
