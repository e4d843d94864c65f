// `digits train --from <model>`: fine-tunes a saved model on MNIST with its own compile settings — the
// file's optimizer, learning rate and (where the file has them) slots, so Keras' run continues here —
// and saves in the format --out's extension names.
import { loadModelArg } from './model-arg';
import { checkModelFits, noteTo, type Out } from './common';
import { loadPresetData } from '../zoo/recipe';
import { applyOptimizerSlots } from '../io/keras-optimizer';
import { checkOutputPath, saveModelFile } from '../io/model-file';
import { makeOptimizer } from '../model/optimizers';
import { getKernels, getPrecision } from '../kernels';
import { UsageError } from '../errors';
import { resolveDataDir } from '../data/mnist';
import { sizeOf } from '../tensor';

export interface FineTuneOptions {
  epochs?: number;
  batchSize?: number;
  optimizer?: string;
  lr?: number;
  seed: number;
  validationSplit?: number;
  limit?: number;
  data?: string;
  out?: string;
  json?: boolean;
  weights?: string;
  rawPixels?: boolean;
}

export async function fineTune(from: string, o: FineTuneOptions, out: Out): Promise<void> {
  if (o.out) checkOutputPath(o.out, resolveDataDir(o.data), '--out');
  const loaded = await loadModelArg(from, o, noteTo(out));
  const { model } = loaded;
  const say = (s: string) => {
    if (!o.json) out.stderr(`digits: ${s}\n`);
  };
  if (o.optimizer) {
    model.compile({
      optimizer: makeOptimizer(o.optimizer, { learningRate: o.lr }),
      loss: model.loss ?? 'categorical_crossentropy',
      fromLogits: model.fromLogits,
      labelSmoothing: model.labelSmoothing,
    });
    say(`${o.optimizer} from the command line; the file's optimizer state is not used`);
  } else if (!model.optimizer || loaded.optimizerNote) {
    throw new UsageError(`${from}: ${loaded.optimizerNote ?? 'the file has no training config'}; choose one with --optimizer`);
  } else {
    say(applyOptimizerSlots(model, loaded.optimizerSlots));
    if (o.lr !== undefined) model.optimizer.learningRate = o.lr;
  }
  for (const n of loaded.notes ?? []) say(`note: ${n}`);
  const d = loadPresetData(o.data, o.limit, sizeOf(model.outputShape));
  checkModelFits(model, d, from);
  // Keras' fit defaults: one epoch, batch 32, no validation
  const epochs = o.epochs ?? 1,
    batchSize = o.batchSize ?? 32,
    validationSplit = o.validationSplit ?? 0;
  if (!o.json) out.stdout(model.summary() + '\n');
  const before = model.evaluate(d.test, d.testLabels);
  const t0 = performance.now();
  const history = await model.fitAsync(d.train, d.trainLabels, {
    epochs,
    batchSize,
    validationSplit: validationSplit || undefined,
    seed: o.seed,
    verbose: o.json ? 0 : 1,
  });
  const trainSeconds = (performance.now() - t0) / 1000;
  const test = model.evaluate(d.test, d.testLabels);
  const result = {
    from,
    format: loaded.format,
    kerasVersion: loaded.kerasVersion || undefined,
    backend: getKernels().name,
    precision: getPrecision(),
    epochs,
    batchSize,
    optimizer: model.optimizer.className,
    learningRate: model.optimizer.learningRate,
    seed: o.seed,
    history: history.history,
    before,
    test,
    trainSeconds,
  };
  if (o.out) await saveModelFile(model, o.out, { ...(loaded.metadata ?? {}), ...result, fineTunedFrom: from });
  if (o.json) {
    out.stdout(JSON.stringify(result) + '\n');
    return;
  }
  out.stdout(
    `test loss ${test.loss.toFixed(4)} - test accuracy ${(test.accuracy * 100).toFixed(2)}% (before fine-tuning: ${before.loss.toFixed(4)}, ${(before.accuracy * 100).toFixed(2)}%)\n`,
  );
  out.stdout(`trained in ${trainSeconds.toFixed(1)} s (${getKernels().name} backend)\n`);
  if (o.out) out.stdout(`saved to ${o.out}\n`);
}
