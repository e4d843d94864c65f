// `digits evaluate [models…]`: loss, accuracy, confusion matrix and per-class metrics on the test set,
// for one model or a soft vote of several (probabilities averaged); the shipped model by default.
import type { Command } from 'commander';
import { accuracyOf, averageProbabilities, loadPresetData } from '../zoo/recipe';
import { getKernels } from '../kernels';
import { lossForward } from '../model/losses';
import { confusionMatrix, formatClassReport, formatConfusionMatrix, perClassMetrics, predictedLabels } from '../train/metrics';
import { sizeOf } from '../tensor';
import { loadModelArg, modelOptions, shippedModel } from './model-arg';
import { checkModelFits, noteTo, type Out } from './common';

export function registerEvaluate(program: Command, out: Out): void {
  modelOptions(
    program
      .command('evaluate [models...]')
      .description(
        'evaluate saved models (directories, model.json, .h5, .keras; default: the shipped model) on the test set: loss, accuracy, confusion matrix, per-class metrics; several are soft-voted (probabilities averaged)',
      )
      .option('--data <dir>', 'MNIST directory')
      .option('--json', 'print one JSON object on stdout'),
  ).action(async (given: string[], o: { data?: string; json?: boolean; weights?: string; rawPixels?: boolean }) => {
    const dirs = given.length > 0 ? given : [shippedModel()];
    const loaded = [];
    for (const dir of dirs) loaded.push({ dir, model: (await loadModelArg(dir, o, noteTo(out))).model });
    const d = loadPresetData(o.data, undefined, sizeOf(loaded[0].model.outputShape));
    const members = loaded.map(({ dir, model }) => {
      checkModelFits(model, d, dir);
      return { dir, model, probs: model.predictProba(d.test).data };
    });
    const classes = d.classes,
      labels = d.testClasses;
    // one model: its own probabilities; several: their mean, the ensemble `digits train --ensemble` makes
    const probs = members.length === 1 ? members[0].probs : averageProbabilities(members.map((m) => m.probs));
    const single = members.length === 1 ? members[0].model : undefined;
    if (single && !single.loss) single.compile({ optimizer: 'sgd', loss: 'categorical_crossentropy' });
    // one model reports its compiled loss (label smoothing included, as Keras' evaluate does); a vote
    // belongs to no compile, so it reports the plain cross-entropy of the averaged probabilities
    const test = single
      ? single.evaluate(d.test, d.testLabels)
      : {
          loss:
            lossForward(getKernels(), 'categorical_crossentropy', labels.length, classes, probs, d.testLabels.data, null, false) /
            labels.length,
          accuracy: accuracyOf(probs, labels, classes),
        };
    const cm = confusionMatrix(labels, predictedLabels(probs, labels.length, classes), classes);
    const perClass = perClassMetrics(cm);
    const each = members.length > 1 ? members.map((m) => ({ dir: m.dir, accuracy: accuracyOf(m.probs, labels, classes) })) : undefined;
    if (o.json) {
      out.stdout(
        JSON.stringify({ loss: test.loss, accuracy: test.accuracy, ...(each && { members: each }), confusionMatrix: cm, perClass }) + '\n',
      );
      return;
    }
    for (const m of each ?? []) out.stdout(`member ${m.dir}: test accuracy ${(m.accuracy * 100).toFixed(2)}%\n`);
    const what = each ? `ensemble of ${each.length} (probabilities averaged): ` : '';
    out.stdout(
      `${what}test loss ${test.loss.toFixed(4)} - test accuracy ${(test.accuracy * 100).toFixed(2)}%\n\nconfusion matrix\n${formatConfusionMatrix(cm)}\n\n${formatClassReport(perClass)}\n`,
    );
  });
}
