// `digits serve <modelDir>`: runs until SIGTERM or SIGINT, then stops taking connections, lets the
// requests in flight finish, and exits 0 (or 1 if they have not finished within the grace period).
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import type { Command } from 'commander';
import { loadModelArg, modelOptions, shippedModel } from './model-arg';
import { resolveDataDir } from '../data/mnist';
import { DigitsError, UsageError } from '../errors';
import { noteTo, type Out } from './common';

const GRACE_MS = 10_000;

/**
 * glibc gives each thread that allocates its own malloc arena (up to 8 per core), and the server's
 * threads (workers, V8's, libvips') free large picture buffers in theirs: RSS grew 20-25% over a
 * 10-minute bench:soak before levelling off; with two arenas it stayed within 3%. glibc reads
 * MALLOC_ARENA_MAX when a process starts, so `digits serve` started as the CLI runs itself again
 * with it set (the parent forwards signals and exits with the server's code; the server stops if
 * the parent dies). Null where there is nothing to do: set already, not Linux, or not the CLI.
 */
function rerunWithArenaMax(): Promise<number> | null {
  if (process.platform !== 'linux' || process.env.MALLOC_ARENA_MAX !== undefined) return null;
  if (!/^digits(\.js)?$/.test(path.basename(process.argv[1] ?? ''))) return null;
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, MALLOC_ARENA_MAX: '2' },
  });
  const signals = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;
  const forward = signals.map((sig) => {
    const f = () => child.kill(sig);
    process.on(sig, f);
    return () => process.off(sig, f);
  });
  return new Promise((resolve) => {
    child.on('error', () => resolve(1));
    child.on('exit', (code, signal) => {
      forward.forEach((off) => off());
      resolve(code ?? (signal ? 128 + (os.constants.signals[signal] ?? 0) : 1));
    });
  });
}

function workersArg(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 256) throw new UsageError(`--workers: expected an integer in [0, 256], got '${v}'`);
  return n;
}

function backlogArg(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new UsageError(`--backlog: expected an integer in [1, 65535], got '${v}'`);
  return n;
}

function port(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`--port: expected an integer in [0, 65535], got '${v}'`);
  return n;
}

export function registerServe(program: Command, out: Out): void {
  modelOptions(
    program
      .command('serve [model]')
      .description(
        'HTTP API (POST /api/predict, GET /api/model, /healthz) and the draw-a-digit page; the model is a directory, model.json, .h5 or .keras (default: the shipped model)',
      ),
  )
    .option('--port <n>', 'TCP port (0 picks a free one)', port, 8080)
    .option('--host <addr>', 'address to listen on', '127.0.0.1')
    .option('--data <dir>', "MNIST directory for the page's test digits (default: $DIGITS_DATA, then ~/.cache/digits/mnist)")
    .option('--log', 'log every request (JSON lines on stdout)')
    .option(
      '--workers <n>',
      'worker threads that decode, preprocess and run the network (default: one per core; 0: on the event loop)',
      workersArg,
    )
    // Node's default, 511, overflowed when 1,000 clients connected at once: the kernel dropped the rest,
    // and each waited for its connection attempt to be retried a second later (bench:load's p99)
    .option('--backlog <n>', 'connections waiting to be accepted (the kernel caps it at net.core.somaxconn)', backlogArg, 2048)
    .action(
      async (
        dirArg: string | undefined,
        o: {
          port: number;
          host: string;
          data?: string;
          log?: boolean;
          workers?: number;
          backlog: number;
          weights?: string;
          rawPixels?: boolean;
        },
      ) => {
        const rerun = rerunWithArenaMax();
        if (rerun) {
          const code = await rerun;
          if (code !== 0) throw new DigitsError('', code);
          return;
        }
        // run again by a parent (above): stop, as on SIGTERM, when it is gone
        if (process.send) {
          process.on('disconnect', () => process.kill(process.pid, 'SIGTERM'));
          // the channel must not keep the server's process alive once it has stopped
          process.channel?.unref();
        }
        const dir = dirArg ?? shippedModel();
        let dataDir: string | undefined;
        try {
          dataDir = resolveDataDir(o.data);
        } catch (e) {
          if (o.data !== undefined) throw e;
          out.stderr('digits: no MNIST data found, the page will show no test digits\n');
        }
        // fastify and prom-client load with the server, not with every start of the CLI
        // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on use
        const { buildServer } = require('../serve/server') as typeof import('../serve/server');
        const app = await buildServer({
          modelDir: dir,
          loaded: await loadModelArg(dir, o, noteTo(out)),
          dataDir,
          logger: o.log ?? false,
          workers: o.workers,
        });
        try {
          await app.listen({ port: o.port, host: o.host, backlog: o.backlog });
        } catch (e) {
          throw new DigitsError(`${o.host}:${o.port}: cannot listen (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
        }
        const addr = app.server.address();
        const where =
          typeof addr === 'object' && addr
            ? `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}/`
            : String(addr);
        out.stdout(`serving ${dir} on ${where}\n`);
        await new Promise<void>((resolve, reject) => {
          const stop = (signal: string) => {
            process.off('SIGTERM', onTerm);
            process.off('SIGINT', onInt);
            out.stderr(`digits: ${signal}: finishing requests in flight\n`);
            const timer = setTimeout(() => {
              app.server.closeAllConnections();
              reject(new DigitsError(`${signal}: requests still running after ${GRACE_MS / 1000} s, stopping anyway`));
            }, GRACE_MS);
            app.close().then(() => {
              clearTimeout(timer);
              resolve();
            }, reject);
          };
          const onTerm = () => stop('SIGTERM'),
            onInt = () => stop('SIGINT');
          process.on('SIGTERM', onTerm);
          process.on('SIGINT', onInt);
        });
        out.stderr('digits: stopped\n');
      },
    );
}
