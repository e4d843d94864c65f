// `digits train <preset>`: the preset's recipe (with the options a user may change) through trainPreset,
// the one training path; resumable checkpoints at every epoch end and on SIGINT/SIGTERM; `--ensemble N`
// (src/cli/reproduce.ts) and `--from MODEL` (fine-tuning, src/cli/finetune.ts) branch off here.
import * as path from 'node:path';
import { Option, type Command } from 'commander';
import { getPreset } from '../zoo/presets';
import { applyRecipePrecision, loadPresetData, trainPreset } from '../zoo/recipe';
import { resolveDataDir } from '../data/mnist';
import { getKernels, getPrecision } from '../kernels';
import { OPTIMIZERS } from '../model/optimizers';
import {
  CheckpointWriter,
  checkFreshCheckpointDir,
  invocation,
  readCheckpoint,
  removeCheckpoints,
  restoreCheckpoint,
  resumeRun,
  resumeTarget,
  shellQuote,
  type TrainRun,
} from '../train/checkpoint';
import { checkOutputPath, saveModelFile } from '../io/model-file';
import { checkWritableTarget } from '../fsutil';
import { UsageError } from '../errors';
import { modelOptions } from './model-arg';
import { fineTune } from './finetune';
import { trainEnsemble } from './reproduce';
import { int, num, PRESET_CLASSES, type Out } from './common';

interface TrainOpts {
  classes?: number;
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
  checkpointDir?: string;
  checkpointMinutes?: number;
  resume?: string;
  ensemble?: number;
  from?: string;
  weights?: string;
  rawPixels?: boolean;
}

export function registerTrain(program: Command, out: Out): void {
  modelOptions(
    program
      .command('train [preset]')
      .description('train a preset with its recipe on MNIST and evaluate on the test set; or fine-tune a saved model (--from)')
      .option(
        '--from <model>',
        'fine-tune this saved model (.h5, .keras, TF.js) with its own compile settings instead of training a preset',
      ),
  )
    .option('--epochs <n>', "epochs (default: the recipe's)", int('--epochs', 1))
    .option('--batch-size <n>', "batch size (default: the recipe's)", int('--batch-size', 1))
    .addOption(new Option('--optimizer <name>', "optimizer (default: the recipe's)").choices([...OPTIMIZERS]))
    .option('--lr <rate>', "learning rate (default: the recipe's)", num('--lr', 0, Infinity))
    .option('--seed <n>', 'seed for weights, shuffling and dropout', int('--seed', 0), 0)
    .option(
      '--validation-split <f>',
      "fraction of the training data (from its end) held out for validation (default: the recipe's)",
      num('--validation-split', 0, 1),
    )
    .option('--limit <n>', 'train on the first n training images only', int('--limit', 1))
    .option(
      '--classes <n>',
      `classes of the preset's output (default ${PRESET_CLASSES}, the digits); every label must be below it`,
      int('--classes', 2),
    )
    .option('--data <dir>', 'MNIST directory (default: $DIGITS_DATA, then ~/.cache/digits/mnist)')
    .option('--out <path>', 'save the trained model here: a directory (TF.js Layers format), or a .h5, .keras or .onnx file')
    .option('--json', 'print one JSON object with history and test results on stdout')
    .option('--checkpoint-dir <dir>', 'write a resumable checkpoint here at every epoch end (default: <out>.ckpt when --out is given)')
    .option('--checkpoint-minutes <m>', 'also checkpoint mid-epoch every m minutes', num('--checkpoint-minutes', 0, Infinity))
    .option(
      '--resume <dir>',
      'continue the interrupted run whose checkpoints are in dir, or the run whose --out it is (its options are kept)',
    )
    .option(
      '--ensemble <n>',
      "train n models (seeds seed, seed+1, …) and average their probabilities; digits-best's members alternate with digits-best-strided; --out gets member-1 … member-n",
      int('--ensemble', 1),
    )
    .action(async (name: string | undefined, o: TrainOpts, cmd: Command) => {
      const given = (k: string) => cmd.getOptionValueSource(k) === 'cli';
      const flag = (k: string) => `--${k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}`;
      if (o.from !== undefined) {
        if (name !== undefined) throw new UsageError('train: give a preset or --from MODEL, not both');
        const clash = ['ensemble', 'resume', 'checkpointDir', 'checkpointMinutes'].find(given);
        if (clash) throw new UsageError(`--from: fine-tuning does not take ${flag(clash)}`);
        return fineTune(o.from, o, out);
      }
      if (name === undefined) throw new UsageError('train: give a preset (digits models lists them) or --from MODEL');
      if (o.weights || o.rawPixels) throw new UsageError('train: --weights and --raw-pixels go with --from MODEL');
      const preset = getPreset(name);
      const r = preset.recipe;
      applyRecipePrecision(r, program.opts().precision as string | undefined, out.stderr);
      if (o.ensemble !== undefined) {
        const clash = ['optimizer', 'lr', 'validationSplit', 'checkpointDir', 'checkpointMinutes', 'resume'].find(given);
        if (clash) throw new UsageError(`--ensemble: trains with the recipe; it does not take ${flag(clash)}`);
        return trainEnsemble(name, { ...o, ensemble: o.ensemble }, out);
      }
      // a person types the run's --out; its checkpoints are in <out>.ckpt
      if (o.resume !== undefined) o.resume = resumeTarget(o.resume);
      const ckptArg = o.checkpointDir ?? o.resume ?? (o.out !== undefined ? `${o.out}.ckpt` : undefined);
      if (o.checkpointMinutes !== undefined && !ckptArg)
        throw new UsageError('--checkpoint-minutes: give --out or --checkpoint-dir so there is a place to write checkpoints');
      const resumeCommand = `${invocation((program as unknown as { rawArgs: string[] }).rawArgs[1])} train ${name} --resume ${shellQuote(ckptArg ?? '')}`;
      const resumed = o.resume !== undefined ? readCheckpoint(o.resume) : null;
      const run: TrainRun = resumed
        ? resumeRun(name, resumed, { ...o }, given, o.resume!)
        : {
            preset: name,
            epochs: o.epochs ?? r.epochs,
            batchSize: o.batchSize ?? r.batchSize,
            optimizer: o.optimizer ?? r.optimizer,
            learningRate: o.lr ?? (o.optimizer && o.optimizer !== r.optimizer ? undefined : r.learningRate),
            seed: o.seed,
            validationSplit: o.validationSplit ?? r.validationSplit,
            limit: o.limit,
            classes: o.classes,
            data: resolveDataDir(o.data),
            out: o.out && path.resolve(o.out),
            json: o.json,
            checkpointDir: ckptArg && path.resolve(ckptArg),
            checkpointDirIsDefault: o.checkpointDir === undefined,
            checkpointMinutes: o.checkpointMinutes,
          };
      if (!resumed && run.checkpointDir) checkFreshCheckpointDir(run.checkpointDir, resumeCommand);
      // refused now, not after the training they would be written at the end of
      if (run.out) checkOutputPath(run.out, run.data, '--out');
      if (run.checkpointDir) checkWritableTarget(path.join(run.checkpointDir, 'x'), '--checkpoint-dir', run.data);
      const d = loadPresetData(run.data, run.limit, run.classes ?? PRESET_CLASSES);
      let writer: CheckpointWriter | undefined;
      let untrap = () => {};
      let result;
      try {
        result = await trainPreset(preset, d, {
          seed: run.seed,
          epochs: run.epochs,
          batchSize: run.batchSize,
          optimizer: run.optimizer,
          learningRate: run.learningRate,
          validationSplit: run.validationSplit,
          probs: false,
          setup: (model) => {
            if (resumed) restoreCheckpoint(model, resumed);
            if (resumed && given('lr')) model.optimizer.learningRate = o.lr!;
            if (!run.json) out.stdout(model.summary() + '\n');
            writer = new CheckpointWriter(model, run, getKernels().name, resumed?.trainSeconds, resumed?.path);
            untrap = writer.trapSignals(out.stderr);
            return { checkpoint: writer, resume: resumed?.fit };
          },
        });
      } catch (e) {
        throw writer ? writer.explainFault(e, resumeCommand) : e;
      } finally {
        untrap();
      }
      if (writer?.signal) throw writer.interruption(resumeCommand);
      const trainSeconds = writer!.trainSeconds();
      const { model, history, test } = result;
      const samples = Math.floor(d.train.shape[0] * (1 - run.validationSplit)) * history.epoch.length;
      const summary = {
        preset: name,
        backend: getKernels().name,
        precision: getPrecision(),
        epochs: history.epoch.length,
        batchSize: run.batchSize,
        optimizer: run.optimizer,
        seed: run.seed,
        history: history.history,
        test,
        trainSeconds,
        samplesPerSecond: samples / trainSeconds,
      };
      if (run.out) await saveModelFile(model, run.out, { ...summary, dataset: { height: d.height, width: d.width, classes: d.classes } });
      if (run.out && run.checkpointDir && run.checkpointDirIsDefault) removeCheckpoints(run.checkpointDir);
      if (run.json) {
        out.stdout(JSON.stringify(summary) + '\n');
        return;
      }
      out.stdout(
        `test loss ${test.loss.toFixed(4)} - test accuracy ${(test.accuracy * 100).toFixed(2)}%` +
          (preset.reportedAccuracy ? ` (the document reports ${(preset.reportedAccuracy * 100).toFixed(2)}%)` : '') +
          '\n',
      );
      out.stdout(
        `trained in ${trainSeconds.toFixed(1)} s (${Math.round(summary.samplesPerSecond)} samples/s, ${getKernels().name} backend)\n`,
      );
      if (run.out) out.stdout(`saved to ${o.out ?? run.out}\n`);
    });
}
