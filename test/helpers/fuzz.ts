// Shared pieces of the fuzz suites: byte-level mutations of valid inputs, the "only one-line
// DigitsErrors" oracle, and a bounded run that reports how many inputs it tried.
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import fc from 'fast-check';
import { DigitsError } from '../../src/errors';

export type Mutation =
  | { kind: 'flip'; at: number; mask: number }
  | { kind: 'set'; at: number; byte: number }
  | { kind: 'u32'; at: number; value: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; count: number };

/** Header words a lying file would carry: 0, 1, around 2^31, 2^32 - 1, four billion. */
export const interestingU32 = fc.oneof(
  fc.constantFrom(0, 1, 2, 255, 256, 0x7fffffff, 0x80000000, 0xffffffff, 4_000_000_000, 60000, 28),
  fc.integer({ min: 0, max: 0xffffffff }),
);

/** Positions are fractions of the length, so one mutation list applies to inputs of any size; `headerBias` favours the first bytes. */
export function mutation(headerBias = 32): fc.Arbitrary<Mutation> {
  const at = fc.oneof(fc.integer({ min: 0, max: headerBias }), fc.integer({ min: 0, max: 1 << 20 }));
  return fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at, mask: fc.integer({ min: 1, max: 255 }) }),
    fc.record({ kind: fc.constant('set' as const), at, byte: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant('u32' as const), at, value: interestingU32 }),
    fc.record({ kind: fc.constant('truncate' as const), at }),
    fc.record({ kind: fc.constant('insert' as const), at, bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
    fc.record({ kind: fc.constant('delete' as const), at, count: fc.integer({ min: 1, max: 16 }) }),
  );
}

export function applyMutations(input: Uint8Array, ms: Mutation[]): Buffer {
  let b = Buffer.from(input);
  for (const m of ms) {
    const at = b.length === 0 ? 0 : m.at % (b.length + (m.kind === 'insert' || m.kind === 'truncate' ? 1 : 0));
    switch (m.kind) {
      case 'flip':
        if (b.length) b[at] ^= m.mask;
        break;
      case 'set':
        if (b.length) b[at] = m.byte;
        break;
      case 'u32':
        if (b.length >= 4) b.writeUInt32BE(m.value >>> 0, Math.min(at, b.length - 4));
        break;
      case 'truncate':
        b = b.subarray(0, at);
        break;
      case 'insert':
        b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
        break;
      case 'delete':
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.count)]);
        break;
    }
  }
  return b;
}

// ---- JSON-tree edits (model.json, checkpoint state.json) ----

/** Values a hostile or broken model.json might hold where a number, string or list belongs. */
export const nasty = fc.oneof(
  fc.constantFrom(
    0,
    -1,
    1,
    2,
    3,
    0.5,
    1e9,
    4e9,
    2 ** 31,
    2 ** 32,
    1e308,
    -1e308,
    '',
    'same',
    'valid',
    'relu',
    'softmax',
    'channels_first',
    'Dense',
    'Conv2D',
    'InputLayer',
    'Sequential',
    'float16',
    'int32',
    'optimizer',
    '../../etc/passwd',
    '/abs',
    true,
    false,
    null,
    [],
    {},
    [null, 1e6, 1e6, 1],
    [null, 0, 28, 1],
    [null, -28, 28, 1],
    [4e9],
    [1, 1],
    [0, 0],
    [-1, 3],
  ),
  fc.jsonValue({ maxDepth: 2 }),
);

export type Edit = { path: number; op: 'replace' | 'delete' | 'duplicate' | 'wrap'; value: unknown };
export const edit: fc.Arbitrary<Edit> = fc.record({
  path: fc.nat(),
  op: fc.constantFrom('replace', 'replace', 'delete', 'duplicate', 'wrap'),
  value: nasty,
});

/** Every (parent, key) in a JSON tree, so an edit can pick one by index. */
function slots(v: any, out: [any, string | number][] = []): [any, string | number][] {
  if (v && typeof v === 'object') {
    for (const k of Array.isArray(v) ? v.keys() : Object.keys(v)) {
      out.push([v, k]);
      slots(v[k], out);
    }
  }
  return out;
}

export function applyEdits(json: any, edits: Edit[]): any {
  for (const e of edits) {
    const all = slots(json);
    if (all.length === 0) break;
    const [parent, key] = all[e.path % all.length];
    if (e.op === 'replace') parent[key] = structuredClone(e.value);
    else if (e.op === 'wrap') parent[key] = [parent[key]];
    else if (Array.isArray(parent)) {
      if (e.op === 'delete') parent.splice(key as number, 1);
      else parent.splice(key as number, 0, structuredClone(parent[key as number]));
    } else if (e.op === 'delete') delete parent[key];
  }
  return json;
}

export interface Tally {
  tried: number;
  accepted: number;
  rejected: number;
  slowestMs: number;
}
export const newTally = (): Tally => ({ tried: 0, accepted: 0, rejected: 0, slowestMs: 0 });

/** Runs one input: a value, or a one-line DigitsError; anything else (another exception type, a slow input) fails. */
export function oracle<T>(tally: Tally, fn: () => T, maxMs = 3000): T | undefined {
  const t0 = process.cpuUsage();
  tally.tried++;
  try {
    return accepted(tally, fn());
  } catch (e) {
    return rejected(tally, e);
  } finally {
    noteTime(tally, t0, maxMs);
  }
}

export async function oracleAsync<T>(tally: Tally, fn: () => Promise<T>, maxMs = 3000): Promise<T | undefined> {
  const t0 = process.cpuUsage();
  tally.tried++;
  try {
    return accepted(tally, await fn());
  } catch (e) {
    return rejected(tally, e);
  } finally {
    noteTime(tally, t0, maxMs);
  }
}

function accepted<T>(tally: Tally, v: T): T {
  tally.accepted++;
  return v;
}

function rejected(tally: Tally, e: unknown): undefined {
  checkRejection(e);
  tally.rejected++;
  return undefined;
}

function checkRejection(e: unknown): void {
  if (!(e instanceof DigitsError))
    throw new Error(`expected a DigitsError, got ${(e as Error)?.constructor?.name}: ${(e as Error)?.stack ?? String(e)}`);
  assert.doesNotMatch(e.message, /\n/, 'error messages are one line');
  assert.ok(e.message.length > 0 && e.message.length < 1000, `message length ${e.message.length}`);
}

/** CPU time, not wall time: on a shared CI machine a descheduled process is not a hang. */
function noteTime(tally: Tally, t0: NodeJS.CpuUsage, maxMs: number): void {
  const d = process.cpuUsage(t0);
  const ms = (d.user + d.system) / 1000;
  tally.slowestMs = Math.max(tally.slowestMs, ms);
  assert.ok(ms < maxMs, `one input took ${ms.toFixed(0)} ms of CPU (limit ${maxMs}): a hang`);
}

/**
 * Bounded for CI: `numRuns` inputs or `seconds`, whichever comes first; reports the count in the test output.
 * DIGITS_FUZZ_SCALE=N runs N times longer (a deeper local search); DIGITS_FUZZ_SEED replays a reported seed.
 */
export async function fuzz(
  t: TestContext,
  name: string,
  tally: Tally,
  prop: fc.IProperty<any> | fc.IAsyncProperty<any>,
  numRuns: number,
  seconds: number,
): Promise<void> {
  const scale = Number(process.env.DIGITS_FUZZ_SCALE ?? 1);
  numRuns = Math.round(numRuns * scale);
  seconds *= scale;
  const seed = process.env.DIGITS_FUZZ_SEED === undefined ? undefined : Number(process.env.DIGITS_FUZZ_SEED);
  const rssBefore = process.memoryUsage().rss;
  const res = await fc.check(prop as fc.IAsyncProperty<any>, {
    numRuns,
    seed,
    interruptAfterTimeLimit: seconds * 1000,
    markInterruptAsFailure: false,
  });
  const grew = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
  t.diagnostic(
    `${name}: ${tally.tried} inputs tried (${tally.accepted} accepted, ${tally.rejected} rejected with a DigitsError), slowest ${tally.slowestMs.toFixed(1)} ms CPU, rss +${grew.toFixed(0)} MiB, seed ${res.seed}`,
  );
  if (res.failed)
    assert.fail(`${fc.defaultReportMessage(res) ?? `${name} failed`}\n${(res.errorInstance as Error)?.stack ?? String(res.errorInstance)}`);
  assert.ok(grew < 512, `memory grew by ${grew.toFixed(0)} MiB`);
}
