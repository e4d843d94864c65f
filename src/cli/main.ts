// The `digits` command line: global options, one file per command (each registers itself), and the
// rule that every failure becomes one line on stderr and an exit code (1 runtime, 2 usage), with the
// stack only under --verbose. Argument parsing is commander's.
import { Command, CommanderError, Option } from 'commander';
import { VERSION } from '../io/tfjs';
import { backendDescription, setPrecision, setThreads } from '../kernels';
import { DigitsError } from '../errors';
import { int, type Out } from './common';
import { registerModels } from './models';
import { registerTrain } from './train';
import { registerEvaluate } from './evaluate';
import { registerPredict } from './predict';
import { registerDownload } from './download';
import { registerConvert } from './convert';
import { registerReproduce } from './reproduce';
import { registerServe } from './serve';
import { registerSpeedrun } from './speedrun';

export { asciiDigit } from './predict';

const defaultOut: Out = { stdout: (s) => process.stdout.write(s), stderr: (s) => process.stderr.write(s) };

function buildProgram(out: Out): Command {
  const program = new Command('digits')
    .description('Handwritten-digit recognition with convolutional networks (Keras-style, TypeScript + oneDNN)')
    .option('--verbose', 'print stack traces on errors')
    .option('--threads <n>', 'compute threads of the native or WebAssembly core (default: all cores)', int('--threads', 1))
    .addOption(
      new Option(
        '--precision <p>',
        'native compute precision: bf16 runs convolutions and dense layers in bfloat16 with fp32 master weights',
      ).choices(['fp32', 'bf16']),
    )
    .option('-V, --version', 'print the version and the active compute backend')
    .configureOutput({ writeOut: out.stdout, writeErr: out.stderr })
    .exitOverride()
    .showHelpAfterError(false);
  program.action((o: { version?: boolean }) => {
    if (o.version) out.stdout(`digits ${VERSION}\n${backendDescription()}\n`);
    else program.help();
  });
  program.hook('preAction', (cmd) => {
    const t = cmd.opts().threads;
    if (t) setThreads(t);
    const p = cmd.opts().precision;
    if (p) setPrecision(p);
  });
  for (const register of [
    registerModels,
    registerTrain,
    registerEvaluate,
    registerPredict,
    registerDownload,
    registerConvert,
    registerReproduce,
    registerServe,
    registerSpeedrun,
  ]) {
    register(program, out);
  }
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
      // an empty message: the exit code of a process that has said its own words (serve run again, below)
      if (e.message) out.stderr(`digits: ${e.message}\n`);
      if (verbose && e.stack) out.stderr(e.stack + '\n');
      return e.exitCode;
    }
    const err = e as Error;
    out.stderr(`digits: internal error: ${err?.message ?? String(e)}${verbose ? '' : ' (run with --verbose for the stack)'}\n`);
    if (verbose && err?.stack) out.stderr(err.stack + '\n');
    return 1;
  }
}
