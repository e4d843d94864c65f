// `digits models` (the presets, their recipes and whose each choice is) and `digits summary` (Keras'
// table of a preset or a model file, with --explain's arithmetic).
import * as fs from 'node:fs';
import type { Command } from 'commander';
import { PRESETS, getPreset } from '../zoo/presets';
import { explain } from '../model/explain';
import { loadModelArg, modelOptions } from './model-arg';
import { noteTo, type Out } from './common';

export function registerModels(program: Command, out: Out): void {
  program
    .command('models')
    .description('list the built-in presets')
    .action(() => {
      const w = Math.max(...PRESETS.map((p) => p.name.length));
      for (const p of PRESETS) {
        // layers get their weights at build time; countParams before it is 0
        const m = p.build().build();
        out.stdout(`${p.name.padEnd(w)} ${m.countParams().toLocaleString('en-US').padStart(10)} params  ${p.description}\n`);
        const r = p.recipe,
          pad = ' '.repeat(w + 12);
        const stop = r.earlyStopping
          ? `, early stopping on ${r.earlyStopping.monitor} (patience ${r.earlyStopping.patience}${r.earlyStopping.restoreBestWeights ? ', best weights kept' : ''})`
          : '';
        const validation =
          r.validation === 'test'
            ? '; validation data: the TEST set, as the notebook did (optimistic)'
            : r.validationSplit > 0
              ? `; validation: last ${r.validationSplit * 100}% of the training data`
              : '';
        out.stdout(
          `${pad}recipe: ${r.optimizer} ${r.oneCycle ? 'one-cycle, peak lr' : 'lr'} ${r.learningRate}, ${r.loss}${r.labelSmoothing ? ` (label smoothing ${r.labelSmoothing})` : ''}, batch ${r.batchSize}, ${r.epochs} epochs${stop}${validation}; document reports ${p.reportedAccuracy === null ? 'no accuracy' : (p.reportedAccuracy * 100).toFixed(2) + '%'}\n`,
        );
        if (p.notebook) out.stdout(`${pad}the notebook's: ${p.notebook}\n`);
        out.stdout(`${pad}ours: ${p.ours}\n`);
      }
    });

  modelOptions(
    program
      .command('summary <preset-or-model>')
      .description('print the Keras summary of a preset or of a model file (.h5, .keras, TF.js)')
      .option('--explain', 'show the arithmetic behind every output shape and parameter count'),
  ).action(async (name: string, o: { explain?: boolean; weights?: string; rawPixels?: boolean }) => {
    const isPreset = PRESETS.some((p) => p.name === name) && !fs.existsSync(name);
    const m = isPreset && !o.weights ? getPreset(name).build() : (await loadModelArg(name, o, noteTo(out))).model;
    out.stdout(m.summary() + '\n');
    if (o.explain) out.stdout('\n' + explain(m) + '\n');
  });
}
