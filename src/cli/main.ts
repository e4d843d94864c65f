// The `digits` command line. Argument parsing is commander's; every failure becomes one line on
// stderr and an exit code (1 runtime, 2 usage), with the stack only under --verbose.
import { Command, CommanderError, Option } from 'commander';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PRESETS, getPreset } from '../zoo/presets';
import { explain } from '../model/explain';
import { loadDataset, resolveDataDir, toTensor, defaultCacheDir, type Dataset } from '../data/mnist';
import { download } from '../data/download';
import { VERSION } from '../io/tfjs';
import { checkOutputPath, saveModelFile } from '../io/model-file';
import { checkWritableTarget, mkdirp } from '../fsutil';
import { loadModelArg, looksLikeModel, modelOptions, shippedModel } from './model-arg';
import { registerConvert } from './convert';
import { fineTune } from './finetune';
import { checkModelFits, loadData } from './data-arg';
import { backendDescription, getKernels, getPrecision, setPrecision, setThreads } from '../kernels';
import { ReduceLROnPlateau, type Callback } from '../train/callbacks';
import { accuracyOf, applyRecipePrecision, averageProbabilities, recipeAugmenter, recipeCallbacks, recipeValidation } from '../zoo/recipe';
import { registerReproduce, trainEnsemble } from './reproduce';
import { predictImages, writeShow } from './predict-image';
import { registerServe } from './serve';
import { registerSpeedrun } from './speedrun';
import { makeOptimizer, OPTIMIZERS } from '../train/optimizers';
import { lossForward } from '../train/losses';
import { CheckpointWriter, checkFreshCheckpointDir, invocation, readCheckpoint, removeCheckpoints, restoreCheckpoint, resumeRun, resumeTarget, shellQuote, type TrainRun } from '../train/checkpoint';
import { confusionMatrix, formatClassReport, formatConfusionMatrix, perClassMetrics, predictedLabels } from '../train/metrics';
import { argmaxRow, sizeOf, type Tensor } from '../tensor';
import type { Sequential } from '../model/sequential';
import { DigitsError, UsageError } from '../errors';

type Out = { stdout: (s: string) => void; stderr: (s: string) => void };
const defaultOut: Out = { stdout: (s) => process.stdout.write(s), stderr: (s) => process.stderr.write(s) };

function int(name: string, min: number) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new UsageError(`${name}: expected an integer ≥ ${min}, got '${v}'`);
    return n;
  };
}
function num(name: string, lo: number, hi: number, closedHi = false) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < lo || (closedHi ? n > hi : n >= hi)) throw new UsageError(`${name}: expected a number in [${lo}, ${hi}${closedHi ? ']' : ')'}, got '${v}'`);
    return n;
  };
}

function labelsOf(t: Tensor): Int32Array {
  const classes = t.shape[1];
  const out = new Int32Array(t.shape[0]);
  for (let r = 0; r < out.length; r++) out[r] = argmaxRow(t.data, r, classes);
  return out;
}

/** 28x28 (or any size) grayscale as ASCII art, two characters per pixel to keep the aspect ratio. */
export function asciiDigit(pixels: Float32Array, h: number, w: number): string {
  const ramp = ' .:-=+*#%@';
  const rows: string[] = [];
  for (let y = 0; y < h; y++) {
    let line = '';
    for (let x = 0; x < w; x++) {
      const c = ramp[Math.min(ramp.length - 1, Math.floor(pixels[y * w + x] * ramp.length))];
      line += c + c;
    }
    rows.push(line.trimEnd());
  }
  return rows.join('\n');
}

/** A preset's output: the ten digits, unless --classes says otherwise. */
const PRESET_CLASSES = 10;

function buildProgram(out: Out): Command {
  const program = new Command('digits')
    .description('Handwritten-digit recognition with convolutional networks (Keras-style, TypeScript + oneDNN)')
    .option('--verbose', 'print stack traces on errors')
    .option('--threads <n>', 'native core threads (default: all cores)', int('--threads', 1))
    .addOption(new Option('--precision <p>', 'native compute precision: bf16 runs convolutions and dense layers in bfloat16 with fp32 master weights').choices(['fp32', 'bf16']))
    .option('-V, --version', 'print the version and the active compute backend')
    .configureOutput({ writeOut: out.stdout, writeErr: out.stderr })
    .exitOverride()
    .showHelpAfterError(false);
  program.action((o: { version?: boolean }) => {
    if (o.version) out.stdout(`digits ${VERSION}\n${backendDescription()}\n`);
    else program.help();
  });
  program.hook('preAction', (cmd) => { const t = cmd.opts().threads; if (t) setThreads(t); const p = cmd.opts().precision; if (p) setPrecision(p); });

  program.command('models').description('list the built-in presets').action(() => {
    const w = Math.max(...PRESETS.map((p) => p.name.length));
    for (const p of PRESETS) {
      // layers get their weights at build time; countParams before it is 0
      const m = p.build().build();
      out.stdout(`${p.name.padEnd(w)} ${m.countParams().toLocaleString('en-US').padStart(10)} params  ${p.description}\n`);
      const r = p.recipe, pad = ' '.repeat(w + 12);
      const stop = r.earlyStopping ? `, early stopping on ${r.earlyStopping.monitor} (patience ${r.earlyStopping.patience}${r.earlyStopping.restoreBestWeights ? ', best weights kept' : ''})` : '';
      const validation = r.validation === 'test' ? '; validation data: the TEST set, as the notebook did (optimistic)' : r.validationSplit > 0 ? `; validation: last ${r.validationSplit * 100}% of the training data` : '';
      out.stdout(`${pad}recipe: ${r.optimizer} ${r.oneCycle ? 'one-cycle, peak lr' : 'lr'} ${r.learningRate}, ${r.loss}${r.labelSmoothing ? ` (label smoothing ${r.labelSmoothing})` : ''}, batch ${r.batchSize}, ${r.epochs} epochs${stop}${validation}; document reports ${p.reportedAccuracy === null ? 'no accuracy' : (p.reportedAccuracy * 100).toFixed(2) + '%'}\n`);
      if (p.notebook) out.stdout(`${pad}the notebook's: ${p.notebook}\n`);
      out.stdout(`${pad}ours: ${p.ours}\n`);
    }
  });

  modelOptions(program.command('summary <preset-or-model>').description("print the Keras summary of a preset or of a model file (.h5, .keras, TF.js)")
    .option('--explain', 'show the arithmetic behind every output shape and parameter count'))
    .action(async (name: string, o: { explain?: boolean; weights?: string; rawPixels?: boolean }) => {
      const isPreset = PRESETS.some((p) => p.name === name) && !fs.existsSync(name);
      const m = isPreset && !o.weights ? getPreset(name).build() : (await loadModelArg(name, o, (n) => out.stderr(`digits: note: ${n}\n`))).model;
      out.stdout(m.summary() + '\n');
      if (o.explain) out.stdout('\n' + explain(m) + '\n');
    });

  modelOptions(program.command('train [preset]').description("train a preset with its recipe on MNIST and evaluate on the test set; or fine-tune a saved model (--from)")
    .option('--from <model>', 'fine-tune this saved model (.h5, .keras, TF.js) with its own compile settings instead of training a preset'))
    .option('--epochs <n>', 'epochs (default: the recipe\'s)', int('--epochs', 1))
    .option('--batch-size <n>', 'batch size (default: the recipe\'s)', int('--batch-size', 1))
    .addOption(new Option('--optimizer <name>', 'optimizer (default: the recipe\'s)').choices([...OPTIMIZERS]))
    .option('--lr <rate>', 'learning rate (default: the recipe\'s)', num('--lr', 0, Infinity))
    .option('--seed <n>', 'seed for weights, shuffling and dropout', int('--seed', 0), 0)
    .option('--validation-split <f>', 'fraction of the training data (from its end) held out for validation (default: the recipe\'s)', num('--validation-split', 0, 1))
    .option('--limit <n>', 'train on the first n training images only', int('--limit', 1))
    .option('--classes <n>', `classes of the preset's output (default ${PRESET_CLASSES}, the digits); every label must be below it`, int('--classes', 2))
    .option('--data <dir>', 'MNIST directory (default: $DIGITS_DATA, then ~/.cache/digits/mnist)')
    .option('--out <path>', 'save the trained model here: a directory (TF.js Layers format), or a .h5, .keras or .onnx file')
    .option('--json', 'print one JSON object with history and test results on stdout')
    .option('--checkpoint-dir <dir>', 'write a resumable checkpoint here at every epoch end (default: <out>.ckpt when --out is given)')
    .option('--checkpoint-minutes <m>', 'also checkpoint mid-epoch every m minutes', num('--checkpoint-minutes', 0, Infinity))
    .option('--resume <dir>', 'continue the interrupted run whose checkpoints are in dir (its options are kept)')
    .option('--ensemble <n>', 'train n models (seeds seed, seed+1, …) and average their probabilities; digits-best\'s members alternate with digits-best-strided; --out gets member-1 … member-n', int('--ensemble', 1))
    .action(async (name: string | undefined, o: { classes?: number; epochs?: number; batchSize?: number; optimizer?: string; lr?: number; seed: number; validationSplit?: number; limit?: number; data?: string; out?: string; json?: boolean; checkpointDir?: string; checkpointMinutes?: number; resume?: string; ensemble?: number; from?: string; weights?: string; rawPixels?: boolean }, cmd: Command) => {
      const given = (k: string) => cmd.getOptionValueSource(k) === 'cli';
      if (o.from !== undefined) {
        if (name !== undefined) throw new UsageError(`train: give a preset or --from MODEL, not both`);
        const clash = ['ensemble', 'resume', 'checkpointDir', 'checkpointMinutes'].find(given);
        if (clash) throw new UsageError(`--from: fine-tuning does not take --${clash.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}`);
        return fineTune(o.from, o, out);
      }
      if (name === undefined) throw new UsageError('train: give a preset (digits models lists them) or --from MODEL');
      if (o.weights || o.rawPixels) throw new UsageError('train: --weights and --raw-pixels go with --from MODEL');
      const preset = getPreset(name);
      const r = preset.recipe;
      applyRecipePrecision(r, program.opts().precision as string | undefined, out.stderr);
      if (o.ensemble !== undefined) {
        const clash = ['optimizer', 'lr', 'validationSplit', 'checkpointDir', 'checkpointMinutes', 'resume'].find(given);
        if (clash) throw new UsageError(`--ensemble: trains with the recipe; it does not take --${clash.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}`);
        return trainEnsemble(name, { ...o, ensemble: o.ensemble }, out);
      }
      // a person types the run's --out; its checkpoints are in <out>.ckpt
      if (o.resume !== undefined) o.resume = resumeTarget(o.resume);
      const ckptArg = o.checkpointDir ?? o.resume ?? (o.out !== undefined ? `${o.out}.ckpt` : undefined);
      if (o.checkpointMinutes !== undefined && !ckptArg) throw new UsageError('--checkpoint-minutes: give --out or --checkpoint-dir so there is a place to write checkpoints');
      const resumeCommand = `${invocation((program as unknown as { rawArgs: string[] }).rawArgs[1])} train ${name} --resume ${shellQuote(ckptArg ?? '')}`;
      const resumed = o.resume !== undefined ? readCheckpoint(o.resume) : null;
      const run: TrainRun = resumed ? resumeRun(name, resumed, o, given, o.resume!) : {
        preset: name, epochs: o.epochs ?? r.epochs, batchSize: o.batchSize ?? r.batchSize, optimizer: o.optimizer ?? r.optimizer,
        learningRate: o.lr ?? (o.optimizer && o.optimizer !== r.optimizer ? undefined : r.learningRate), seed: o.seed,
        validationSplit: o.validationSplit ?? r.validationSplit, limit: o.limit, classes: o.classes, data: resolveDataDir(o.data),
        out: o.out && path.resolve(o.out), json: o.json, checkpointDir: ckptArg && path.resolve(ckptArg),
        checkpointDirIsDefault: o.checkpointDir === undefined, checkpointMinutes: o.checkpointMinutes,
      };
      if (!resumed && run.checkpointDir) checkFreshCheckpointDir(run.checkpointDir, resumeCommand);
      // refused now, not after the training they would be written at the end of
      if (run.out) checkOutputPath(run.out, run.data, '--out');
      if (run.checkpointDir) checkWritableTarget(path.join(run.checkpointDir, 'x'), '--checkpoint-dir', run.data);
      const d = loadData(run.data, run.limit, run.classes ?? PRESET_CLASSES);
      const model = preset.build([d.ds.height, d.ds.width, 1], d.ds.classes, run.seed);
      model.compile({ optimizer: makeOptimizer(run.optimizer, { learningRate: run.learningRate }), loss: r.loss, labelSmoothing: r.labelSmoothing });
      if (resumed) restoreCheckpoint(model, resumed);
      if (resumed && given('lr')) model.optimizer.learningRate = o.lr!;
      const { epochs, batchSize, optimizer, validationSplit } = run;
      const callbacks: Callback[] = [];
      callbacks.push(...recipeCallbacks(r, { validationSplit, learningRate: run.learningRate ?? model.optimizer.learningRate }));
      if (!run.json) out.stdout(model.summary() + '\n');
      const writer = new CheckpointWriter(model, run, getKernels().name, resumed?.trainSeconds, resumed?.path);
      const untrap = writer.trapSignals(out.stderr);
      let history;
      try {
        history = await model.fitAsync(d.train, d.trainLabels, { epochs, batchSize, ...recipeValidation(r, d, validationSplit), seed: run.seed, callbacks, checkpoint: writer, resume: resumed?.fit,
          augment: recipeAugmenter(r, [d.ds.height, d.ds.width, 1]) });
      } catch (e) {
        throw writer.explainFault(e, resumeCommand);
      } finally {
        untrap();
      }
      if (writer.signal) throw writer.interruption(resumeCommand);
      const trainSeconds = writer.trainSeconds();
      const test = model.evaluate(d.test, d.testLabels);
      const samples = Math.floor(d.train.shape[0] * (1 - validationSplit)) * history.epoch.length;
      const result = {
        preset: name, backend: getKernels().name, precision: getPrecision(), epochs: history.epoch.length, batchSize, optimizer, seed: run.seed,
        history: history.history, test, trainSeconds, samplesPerSecond: samples / trainSeconds,
      };
      if (run.out) await saveModelFile(model, run.out, { ...result, dataset: { height: d.ds.height, width: d.ds.width, classes: d.ds.classes } });
      if (run.out && run.checkpointDir && run.checkpointDirIsDefault) removeCheckpoints(run.checkpointDir);
      if (run.json) out.stdout(JSON.stringify(result) + '\n');
      else {
        out.stdout(`test loss ${test.loss.toFixed(4)} - test accuracy ${(test.accuracy * 100).toFixed(2)}%` +
          (preset.reportedAccuracy ? ` (the document reports ${(preset.reportedAccuracy * 100).toFixed(2)}%)` : '') + '\n');
        out.stdout(`trained in ${trainSeconds.toFixed(1)} s (${Math.round(result.samplesPerSecond)} samples/s, ${getKernels().name} backend)\n`);
        if (run.out) out.stdout(`saved to ${o.out ?? run.out}\n`);
      }
    });

  modelOptions(program.command('evaluate [models...]').description('evaluate saved models (directories, model.json, .h5, .keras; default: the shipped model) on the test set: loss, accuracy, confusion matrix, per-class metrics; several are soft-voted (probabilities averaged)')
    .option('--data <dir>', 'MNIST directory')
    .option('--json', 'print one JSON object on stdout'))
    .action(async (dirs: string[], o: { data?: string; json?: boolean; weights?: string; rawPixels?: boolean }) => {
      const loaded = [];
      if (dirs.length === 0) dirs = [shippedModel()];
      for (const dir of dirs) loaded.push({ dir, model: (await loadModelArg(dir, o, (n) => out.stderr(`digits: note: ${n}\n`))).model });
      const d = loadData(o.data, 0, sizeOf(loaded[0].model.outputShape));
      const members = loaded.map(({ dir, model }) => {
        checkModelFits(model, d, dir);
        return { dir, model, probs: model.predictProba(d.test).data };
      });
      const classes = d.ds.classes, labels = labelsOf(d.testLabels);
      // one model: its own probabilities; several: their mean, the ensemble `digits train --ensemble` makes
      const probs = members.length === 1 ? members[0].probs : averageProbabilities(members.map((m) => m.probs));
      const single = members.length === 1 ? members[0].model : undefined;
      if (single && !single.loss) single.compile({ optimizer: 'sgd', loss: 'categorical_crossentropy' });
      // one model reports its compiled loss (label smoothing included, as Keras' evaluate does); a vote
      // belongs to no compile, so it reports the plain cross-entropy of the averaged probabilities
      const test = single ? single.evaluate(d.test, d.testLabels) : { loss: lossForward(getKernels(), 'categorical_crossentropy', labels.length, classes, probs, d.testLabels.data, null, false) / labels.length, accuracy: accuracyOf(probs, labels, classes) };
      const cm = confusionMatrix(labels, predictedLabels(probs, labels.length, classes), classes);
      const perClass = perClassMetrics(cm);
      const each = members.length > 1 ? members.map((m) => ({ dir: m.dir, accuracy: accuracyOf(m.probs, labels, classes) })) : undefined;
      if (o.json) { out.stdout(JSON.stringify({ loss: test.loss, accuracy: test.accuracy, ...(each && { members: each }), confusionMatrix: cm, perClass }) + '\n'); return; }
      for (const m of each ?? []) out.stdout(`member ${m.dir}: test accuracy ${(m.accuracy * 100).toFixed(2)}%\n`);
      const what = each ? `ensemble of ${each.length} (probabilities averaged): ` : '';
      out.stdout(`${what}test loss ${test.loss.toFixed(4)} - test accuracy ${(test.accuracy * 100).toFixed(2)}%\n\nconfusion matrix\n${formatConfusionMatrix(cm)}\n\n${formatClassReport(perClass)}\n`);
    });

  modelOptions(program.command('predict [model-or-images...]').description('predict digits in PNG/JPEG/WebP images, or a test-set digit (--index) drawn as ASCII art; top-3 probabilities. The model is the shipped one unless --model (or a model as the first argument, the older form) names another')
    .option('--model <model>', 'the model (directory, model.json, .h5, .keras; default: the shipped model)')
    .option('--index <n>', 'index into the 10,000 test digits', int('--index', 0)))
    .option('--data <dir>', 'MNIST directory')
    .option('--json', 'print one JSON object on stdout')
    .option('--show <out.png>', 'write the 28x28 inputs the network saw as a PNG (several side by side)')
    .option('--row', 'read each image as a row of digits, left to right')
    .action(async (args: string[], o: { model?: string; index?: number; data?: string; json?: boolean; show?: string; row?: boolean; weights?: string; rawPixels?: boolean }) => {
      // the older form `predict <model> <images…>` (or `<model> --index N`) still works
      const first = !o.model && args.length > 0 && (args.length > 1 || o.index !== undefined) && looksLikeModel(args[0]);
      const dir = o.model ?? (first ? args[0] : shippedModel());
      const images = first ? args.slice(1) : args;
      if ((o.index === undefined) === (images.length === 0)) throw new UsageError('predict: give image files or --index N (one of the two)');
      const { model } = await loadModelArg(dir, o, (n) => out.stderr(`digits: note: ${n}\n`));
      if (o.index === undefined) return predictImages(model, dir, images, o, out);
      const d = loadData(o.data, 0, sizeOf(model.outputShape));
      checkModelFits(model, d, dir);
      if (o.index >= d.test.shape[0]) throw new UsageError(`--index: the test set has ${d.test.shape[0]} digits (0..${d.test.shape[0] - 1}), got ${o.index}`);
      const size = d.ds.height * d.ds.width;
      const pixels = d.test.data.subarray(o.index * size, (o.index + 1) * size);
      const probs = model.predictProba({ shape: [1, d.ds.height, d.ds.width, 1], data: pixels }).data;
      const top = Array.from(probs, (p, c) => ({ digit: c, probability: p })).sort((a, b) => b.probability - a.probability).slice(0, 3);
      const label = d.ds.test.labels[o.index];
      if (o.show) await writeShow(o.show, [Float32Array.from(pixels)]);
      if (o.json) { out.stdout(JSON.stringify({ index: o.index, label, top }) + '\n'); return; }
      out.stdout(asciiDigit(pixels, d.ds.height, d.ds.width) + '\n');
      out.stdout(`test digit #${o.index}, label ${label}\n`);
      for (const t of top) out.stdout(`  ${t.digit}  ${(t.probability * 100).toFixed(2).padStart(6)}%\n`);
    });

  program.command('download').description('fetch the four MNIST files into the cache (md5-checked)')
    .option('--dir <dir>', 'target directory', defaultCacheDir())
    .action(async (o: { dir: string }) => {
      mkdirp(o.dir);
      const r = await download(o.dir, { log: (s) => out.stderr(s + '\n') });
      out.stdout(`MNIST ready in ${r.dir} (${r.fetched.length} fetched, ${r.skipped.length} already present)\n`);
    });

  registerConvert(program, out);
  registerReproduce(program, out);
  registerServe(program, out);
  registerSpeedrun(program, out);
  return program;
}

/** Runs the CLI and resolves to the exit code (never throws). */
export async function run(argv: string[], out: Out = defaultOut): Promise<number> {
  const program = buildProgram(out);
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // commander has printed its own one-line message; help and version are not errors
      return e.exitCode === 0 ? 0 : 2;
    }
    const verbose = argv.includes('--verbose');
    if (e instanceof DigitsError) {
      out.stderr(`digits: ${e.message}\n`);
      if (verbose && e.stack) out.stderr(e.stack + '\n');
      return e.exitCode;
    }
    const err = e as Error;
    out.stderr(`digits: internal error: ${err?.message ?? String(e)}${verbose ? '' : ' (run with --verbose for the stack)'}\n`);
    if (verbose && err?.stack) out.stderr(err.stack + '\n');
    return 1;
  }
}
