// `digits convert <model> <out>`: any model we read, written in the format out's extension names — .h5
// (Keras 2 legacy HDF5), .keras (Keras 3), .onnx, *.weights.h5 (Keras 3 weights only), else a TF.js directory.
import type { Command } from 'commander';
import { loadModelArg, modelOptions } from './model-arg';
import { checkOutputPath, saveModelFile } from '../io/model-file';
import { noteTo, type Out } from './common';

const NAMES = { tfjs: 'TF.js Layers directory', h5: 'Keras legacy HDF5', keras: 'Keras 3 archive', onnx: 'ONNX (opset 13)' };

export function registerConvert(program: Command, out: Out): void {
  modelOptions(
    program
      .command('convert <model> <out>')
      .description(
        "convert a model (TF.js directory or model.json, .h5, .keras) to .h5, .keras, .onnx or a TF.js directory, by out's extension",
      ),
  ).action(async (from: string, to: string, o: { weights?: string; rawPixels?: boolean }) => {
    checkOutputPath(to, undefined, 'convert output');
    const loaded = await loadModelArg(from, o, noteTo(out));
    const format = await saveModelFile(loaded.model, to, loaded.metadata);
    out.stdout(`${from} (${loaded.format}${loaded.kerasVersion ? `, Keras ${loaded.kerasVersion}` : ''}) → ${to} (${NAMES[format]})\n`);
  });
}
