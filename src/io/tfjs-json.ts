// model.json parsing without node:fs (shared by loadModel in io.ts and the browser page): TF.js Layers
// topology + weights manifest + concatenated weight bytes → a built Sequential.
import { Sequential } from './sequential';
import { LAYER_CLASSES } from '../layers/registry';
import { withWeightBudget, type Layer } from '../layers/layer';
import type { Kernels } from '../kernels/kernels';
import { DigitsError } from '../errors';
import { makeOptimizer } from '../train/optimizers';

/** What `digits` keeps beside the model (history, test accuracy, preset) in model.json's userDefinedMetadata. */
export type DigitsMetadata = Record<string, unknown>;

/** Per-sample values one layer may output (MNIST-sized models need under 2^17); predict allocates batches of them. */
const MAX_ACTIVATION = 2 ** 24;

const camel = (s: string) => s.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());

function camelDeep(v: any): any {
  if (Array.isArray(v)) return v.map(camelDeep);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [camel(k), camelDeep(x)]));
  return v;
}

export interface LoadedModel {
  model: Sequential;
  metadata: DigitsMetadata | null;
}

/**
 * Build a model from a parsed model.json and the concatenated weight bytes. `where` names the file in errors.
 * `kernels` defaults to getKernels(); the browser passes `reference` so the native loader is never touched.
 */
export function fromModelJson(json: any, weightData: Uint8Array, where: string, kernels?: Kernels): LoadedModel {
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
      const bis = cfg.batchInputShape ?? cfg.batchShape;
      inputShape = Array.isArray(bis) ? bis.slice(1) : undefined;
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
  if (!Array.isArray(inputShape) || inputShape.some((d) => !(Number.isInteger(d) && d > 0))) throw new DigitsError(`${where}: the first layer has no usable batch_input_shape`);
  const model = new Sequential({ name: topo.config?.name ?? 'sequential', layers, kernels });
  try {
    // weights.bin bounds what the topology may honestly allocate, so a lying model.json fails here, not in
    // malloc; the slack lets a slightly-off file reach the manifest checks, whose messages say more
    withWeightBudget(weightData.length / 4 + 2 ** 24, () => model.build(inputShape));
  } catch (e) {
    if (e instanceof DigitsError) throw new DigitsError(`${where}: ${e.message}`);
    throw e;
  }
  for (const l of model.layers) {
    const size = l.outputShape.reduce((a, b) => a * b, 1);
    if (size > MAX_ACTIVATION) throw new DigitsError(`${where}: layer ${l.name} outputs ${size} values per sample, more than the limit of ${MAX_ACTIVATION}`);
  }
  for (const [l, axis] of bnAxes) if (axis !== -1 && axis !== l.inputShape.length) throw new DigitsError(`${where}: layer ${l.name}: BatchNormalization axis ${axis} is not the channel axis`);
  loadWeights(model, json.weightsManifest, weightData, where);
  const tc = json.trainingConfig;
  if (tc?.loss && typeof tc.loss === 'string') {
    try {
      const oc = camelDeep(tc.optimizer_config ?? tc.optimizerConfig ?? {});
      model.compile({ optimizer: makeOptimizer(oc.className ?? 'adam', { ...oc.config, learningRate: oc.config?.learningRate ?? oc.config?.lr }), loss: tc.loss, metrics: tc.metrics,
        labelSmoothing: typeof tc.label_smoothing === 'number' ? tc.label_smoothing : undefined });
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
    if (!s || typeof s !== 'object' || typeof s.name !== 'string') throw new DigitsError(`${where}: weightsManifest has an entry without a name: ${JSON.stringify(s)?.slice(0, 80)}`);
    if (!Array.isArray(s.shape) || s.shape.some((d) => !(Number.isSafeInteger(d) && d >= 0))) throw new DigitsError(`${where}: weight ${s.name} has an invalid shape ${JSON.stringify(s.shape)?.slice(0, 80)}`);
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
