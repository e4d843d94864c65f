// TF.js as the reference implementation of the Layers format: load a model directory the way tfjs-node's
// file:// handler does, and save one the same way, so interoperability tests need no tfjs-node binary.
import * as fs from 'fs';
import * as path from 'path';
import type * as TF from '@tensorflow/tfjs';

export type Tfjs = typeof TF;

let cached: Promise<Tfjs> | undefined;

/** The pure-JS TF.js on its CPU backend (deterministic, no native code), loaded once per process. */
export function loadTfjs(): Promise<Tfjs> {
  cached ??= (async () => {
    // tfjs prints a multi-line "install tfjs-node" hint through console.warn on import; it is noise here
    const warn = console.warn;
    console.warn = () => {};
    let tf: Tfjs;
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      tf = require('@tensorflow/tfjs') as Tfjs;
    } finally {
      console.warn = warn;
    }
    await tf.setBackend('cpu');
    return tf;
  })();
  return cached;
}

/** ArrayBuffer holding exactly the bytes of b (a Node Buffer may be a view into a larger pool). */
export function arrayBufferOf(b: Uint8Array): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

/**
 * Load a model directory (model.json + the shard files its manifest lists) with TF.js' own artifact
 * builder, getModelArtifactsForJSON, as tfjs-node's file handler does: trainingConfig and
 * userDefinedMetadata go through exactly as a file:// load would pass them.
 */
export async function tfjsLoadDir(tf: Tfjs, dir: string, opts: { dropTrainingConfig?: boolean } = {}): Promise<TF.LayersModel> {
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  if (opts.dropTrainingConfig) delete json.trainingConfig;
  const artifacts = await tf.io.getModelArtifactsForJSON(json, async (manifest) => {
    const specs = manifest.flatMap((g) => g.weights);
    const data = Buffer.concat(manifest.flatMap((g) => g.paths).map((p) => fs.readFileSync(path.join(dir, p))));
    return [specs, arrayBufferOf(data)];
  });
  return tf.loadLayersModel({ load: async () => artifacts });
}

/**
 * Save a TF.js model as tfjs-node's file:// handler would: model.json with modelTopology, format,
 * generatedBy, convertedBy, one weights group pointing at weights.bin, and trainingConfig when TF.js
 * produced one (it does only with includeOptimizer, and then appends the optimizer's weights).
 */
export async function tfjsSaveDir(model: TF.LayersModel, dir: string, includeOptimizer = false): Promise<void> {
  const tf = await loadTfjs();
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      fs.mkdirSync(dir, { recursive: true });
      const json: Record<string, unknown> = {
        modelTopology: a.modelTopology,
        format: a.format,
        generatedBy: a.generatedBy,
        convertedBy: a.convertedBy,
        weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs }],
      };
      if (a.trainingConfig != null) json.trainingConfig = a.trainingConfig;
      if (a.userDefinedMetadata != null) json.userDefinedMetadata = a.userDefinedMetadata;
      const data = a.weightData instanceof ArrayBuffer ? a.weightData : tf.io.concatenateArrayBuffers(a.weightData as ArrayBuffer[]);
      fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
      fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.from(data));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
    { includeOptimizer },
  );
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`maxAbsDiff: lengths ${a.length} and ${b.length} differ`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
