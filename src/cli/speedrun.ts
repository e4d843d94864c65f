// `digits speedrun`: our fastest recipe to ≥ 99.0% MNIST test accuracy from a cold process. The
// clock starts when this module is loaded (before the data is read) and stops after the test-set
// evaluation; node's own start-up (~50 ms) is before it, so `time digits speedrun` is the wall figure.
const t0 = performance.now();
import type { Command } from 'commander';
import { BatchNormalization, Conv2D, Dense, Flatten, MaxPooling2D } from '../layers';
import { Sequential } from '../model/sequential';
import { loadPresetData } from '../zoo/recipe';
import { Adam } from '../train/optimizers';
import { OneCycle } from '../train/callbacks';
import { getKernels, setPrecision } from '../kernels';
import { UsageError } from '../errors';

type Out = { stdout: (s: string) => void; stderr: (s: string) => void };

/**
 * The recipe: two 3x3 convs (32 and 64 wide), each pooled and then batch-normalised, a dense 128 and
 * the softmax, trained two epochs with a one-cycle Adam schedule; bf16 where the CPU has it natively.
 * Batch norm after the pooling, not before it, normalises a quarter of the values, and leaves the
 * ReLU → max-pool pair that the model backpropagates in one pass. docs/guide.md has the measured
 * alternatives: one epoch lands on 98.87-99.10% depending on the seed, two on 99.26-99.29%, and a
 * speedrun that misses 99% is no speedrun.
 */
export const SPEEDRUN = { batchSize: 128, epochs: 2, maxLr: 6e-3, seed: 0 };

export function speedrunModel(seed: number): Sequential {
  const bn = () => new BatchNormalization({ momentum: 0.9 });
  return new Sequential({ seed, layers: [
    new Conv2D({ filters: 32, kernelSize: 3, activation: 'relu', inputShape: [28, 28, 1] }),
    new MaxPooling2D({ poolSize: 2 }),
    bn(),
    new Conv2D({ filters: 64, kernelSize: 3, activation: 'relu' }),
    new MaxPooling2D({ poolSize: 2 }),
    bn(),
    new Flatten(),
    new Dense({ units: 128, activation: 'relu' }),
    new Dense({ units: 10, activation: 'softmax' }),
  ] });
}

export function registerSpeedrun(program: Command, out: Out): void {
  program.command('speedrun').description('train our fastest recipe to ≥ 99.0% MNIST test accuracy; prints wall seconds and accuracy')
    .option('--data <dir>', 'MNIST directory (default: $DIGITS_DATA, then ~/.cache/digits/mnist)')
    .option('--epochs <n>', 'epochs', (v) => { const n = Number(v); if (!Number.isInteger(n) || n < 1) throw new UsageError(`--epochs: expected an integer ≥ 1, got '${v}'`); return n; })
    .option('--seed <n>', 'seed', (v) => { const n = Number(v); if (!Number.isInteger(n) || n < 0) throw new UsageError(`--seed: expected an integer ≥ 0, got '${v}'`); return n; })
    .option('--json', 'print one JSON object on stdout')
    .action((o: { data?: string; epochs?: number; seed?: number; json?: boolean }, cmd: Command) => {
      const precision = cmd.parent?.opts().precision as string | undefined;
      let bf16 = false;
      if (precision === undefined && getKernels().name === 'native') {
        try { setPrecision('bf16'); bf16 = true; } catch { /* no native bf16 here: fp32 */ }
      } else bf16 = precision === 'bf16';
      const d = loadPresetData(o.data);
      const tLoad = performance.now();
      const epochs = o.epochs ?? SPEEDRUN.epochs;
      const model = speedrunModel(o.seed ?? SPEEDRUN.seed);
      model.compile({ optimizer: new Adam({ learningRate: SPEEDRUN.maxLr }), loss: 'categorical_crossentropy' });
      model.fit(d.train, d.trainLabels, { batchSize: SPEEDRUN.batchSize, epochs, seed: o.seed ?? SPEEDRUN.seed, verbose: 0,
        callbacks: [new OneCycle({ maxLr: SPEEDRUN.maxLr, pctStart: 0.25, divFactor: 10, finalDivFactor: 100 })] });
      const tTrain = performance.now();
      const test = model.evaluate(d.test, d.testLabels, { batchSize: 1000 });
      const wall = (performance.now() - t0) / 1000;
      const result = { accuracy: test.accuracy, loss: test.loss, wallSeconds: wall, loadSeconds: (tLoad - t0) / 1000,
        trainSeconds: (tTrain - tLoad) / 1000, evalSeconds: (performance.now() - tTrain) / 1000, epochs,
        backend: getKernels().name, precision: bf16 ? 'bf16' : 'fp32' };
      if (o.json) out.stdout(JSON.stringify(result) + '\n');
      else out.stdout(`speedrun: ${(test.accuracy * 100).toFixed(2)}% test accuracy in ${wall.toFixed(2)} s wall ` +
        `(data ${result.loadSeconds.toFixed(2)} s, train ${result.trainSeconds.toFixed(2)} s, test ${result.evalSeconds.toFixed(2)} s; ${result.backend} ${result.precision})\n`);
    });
}
