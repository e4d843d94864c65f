// `digits speedrun`: our fastest recipe to ≥ 99.0% MNIST test accuracy from a cold process. The
// clock starts when this module is loaded (before the data is read) and stops after the test-set
// evaluation; node's own start-up (~50 ms) is before it, so `time digits speedrun` is the wall figure.
const t0 = performance.now();
import type { Command } from 'commander';
import { Conv2D, Dense, Flatten, MaxPooling2D } from '../layers';
import { Sequential } from '../model/sequential';
import { loadPresetData } from '../zoo/recipe';
import { Adam } from '../train/optimizers';
import { OneCycle } from '../train/callbacks';
import { getKernels, setPrecision } from '../kernels';
import { UsageError } from '../errors';

type Out = { stdout: (s: string) => void; stderr: (s: string) => void };

/**
 * The recipe. Small enough that one epoch is ~0.5 TFLOP (3x3 convs 32 and 64 wide, pooled twice,
 * straight into the softmax: 3.2 MFLOP per image forward), and a one-cycle Adam schedule that gets a
 * single epoch past 99%. bf16 where the CPU has it natively.
 */
export const SPEEDRUN = { batchSize: 128, epochs: 1, maxLr: 4e-3, seed: 0 };

export function speedrunModel(seed: number): Sequential {
  return new Sequential({ seed, layers: [
    new Conv2D({ filters: 32, kernelSize: 3, activation: 'relu', inputShape: [28, 28, 1] }),
    new MaxPooling2D({ poolSize: 2 }),
    new Conv2D({ filters: 64, kernelSize: 3, activation: 'relu' }),
    new MaxPooling2D({ poolSize: 2 }),
    new Flatten(),
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
