// model.json parsing without node:fs (shared by loadModel in tfjs.ts and the browser page): TF.js Layers
// topology + weights manifest + concatenated weight bytes → a built Sequential.
import type { Sequential } from '../model/sequential';
import type { Kernels } from '../kernels/kernels';
import { DigitsError } from '../errors';
import { buildModel, compileFromConfig, parseModelConfig } from './keras-config';

/** What `digits` keeps beside the model (history, test accuracy, preset, rawPixels) in its files' metadata. */
export type DigitsMetadata = Record<string, unknown>;

export interface LoadedModel {
  model: Sequential;
  metadata: DigitsMetadata | null;
  /** Settings in the file that this model does not apply when it trains (regularizers, …). */
  notes?: string[];
  /** Set when the file's optimizer cannot be matched exactly: training then needs --optimizer. */
  optimizerNote?: string;
}

/** Our metadata's rawPixels (a model trained on 0–255 pixels) sets the model's input scale. */
export function applyMetadata(model: Sequential, metadata: DigitsMetadata | null): void {
  if (metadata?.rawPixels === true) model.inputScale = 255;
}

/**
 * Build a model from a parsed model.json and the concatenated weight bytes. `where` names the file in errors.
 * `kernels` defaults to getKernels(); the browser passes `reference` so the native loader is never touched.
 */
export function fromModelJson(json: any, weightData: Uint8Array, where: string, kernels?: Kernels): LoadedModel {
  if (!json || typeof json !== 'object') throw new DigitsError(`${where}: not a JSON object`);
  const topo = json.modelTopology;
  if (!topo) throw new DigitsError(`${where}: no modelTopology (not a TF.js Layers model.json)`);
  const notes: string[] = [];
  const version = topo.keras_version ?? topo.model_config?.keras_version;
  const kerasVersion = typeof version === 'string' ? version : '';
  const spec = parseModelConfig(topo, where, { keras3: /^3\./.test(kerasVersion), notes });
  // the weights bound what the topology may honestly allocate; the slack lets a slightly-off file reach
  // the manifest checks, whose messages say more
  const model = buildModel(spec, where, weightData.length / 4 + 2 ** 24, kernels);
  loadWeights(model, json.weightsManifest, weightData, where);
  const tc = json.trainingConfig;
  // TF.js knows losses by name only; our writer keeps from_logits beside it, as it does label_smoothing
  const { optimizerNote } = compileFromConfig(
    model,
    tc?.from_logits === true && typeof tc.loss === 'string'
      ? { ...tc, loss: { class_name: tc.loss, config: { from_logits: true, label_smoothing: tc.label_smoothing ?? 0 } } }
      : tc,
  );
  const metadata = json.userDefinedMetadata?.digits ?? null;
  applyMetadata(model, metadata);
  return { model, metadata, notes, optimizerNote };
}

/** A file's value in an error message: a string as it is, anything else as (clipped) JSON, never through its own toString. */
function shown(v: unknown): string {
  return typeof v === 'string' ? v : (JSON.stringify(v) ?? typeof v).slice(0, 80);
}

function loadWeights(model: Sequential, manifest: any, data: Uint8Array, where: string): void {
  if (!Array.isArray(manifest)) throw new DigitsError(`${where}: weightsManifest is missing or not a list`);
  const all: { name: string; shape: number[]; dtype?: string; quantization?: unknown; group?: string }[] = manifest.flatMap(
    (g: any) => g?.weights ?? [],
  );
  const byName = new Map<string, { offset: number; size: number; shape: number[] }>();
  let offset = 0;
  for (const s of all) {
    if (!s || typeof s !== 'object' || typeof s.name !== 'string')
      throw new DigitsError(`${where}: weightsManifest has an entry without a name: ${JSON.stringify(s)?.slice(0, 80)}`);
    if (!Array.isArray(s.shape) || s.shape.some((d) => !(Number.isSafeInteger(d) && d >= 0)))
      throw new DigitsError(`${where}: weight ${s.name} has an invalid shape ${JSON.stringify(s.shape)?.slice(0, 80)}`);
    if (s.group === 'optimizer') {
      // TF.js' includeOptimizer appends optimizer state (an int32 'iter', slots) after the model's weights:
      // skip its bytes; the optimizer restarts from the trainingConfig
      if (!Array.isArray(s.shape) || s.quantization || !['float32', 'int32'].includes(s.dtype ?? 'float32'))
        throw new DigitsError(`${where}: optimizer weight ${s.name} cannot be skipped (dtype ${shown(s.dtype)})`);
      offset += s.shape.reduce((a: number, b: number) => a * b, 1) * 4;
      continue;
    }
    if (s.dtype && s.dtype !== 'float32') throw new DigitsError(`${where}: weight ${s.name} has dtype ${shown(s.dtype)} (float32 only)`);
    if (s.quantization) throw new DigitsError(`${where}: weight ${s.name} is quantized (not supported)`);
    if (!Array.isArray(s.shape) || s.shape.some((d) => !(Number.isInteger(d) && d >= 0)))
      throw new DigitsError(`${where}: weight ${s.name} has an invalid shape ${JSON.stringify(s.shape)}`);
    const size = s.shape.reduce((a, b) => a * b, 1);
    byName.set(s.name, { offset, size, shape: s.shape });
    offset += size * 4;
  }
  if (data.length < offset)
    throw new DigitsError(`${where}: weights data has ${data.length} bytes, the manifest needs ${offset} (truncated weights.bin?)`);
  if (data.length > offset) throw new DigitsError(`${where}: weights data has ${data.length} bytes, the manifest describes ${offset}`);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const ws = model.layers.flatMap((l) => l.weights.map((w) => ({ l, w })));
  const specs = all.filter((s) => s.group !== 'optimizer');
  if (specs.length !== ws.length)
    throw new DigitsError(`${where}: manifest lists ${specs.length} weights, the topology needs ${ws.length}`);
  ws.forEach(({ l, w }, i) => {
    // TF.js matches by name; fall back to order for files whose weight names carry other prefixes
    const spec = byName.get(`${l.name}/${w.name}`) ?? byName.get(specs[i].name)!;
    if (spec.size !== w.value.length || spec.shape.join() !== w.shape.join())
      throw new DigitsError(
        `${where}: weight ${l.name}/${w.name} has shape [${spec.shape}] (${spec.size} values) in the manifest, the layer needs [${w.shape}] (${w.value.length})`,
      );
    for (let j = 0; j < spec.size; j++) w.value[j] = view.getFloat32(spec.offset + 4 * j, true);
  });
}
