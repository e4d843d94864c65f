// Fetches the four MNIST idx files from the mirrors torchvision uses, verifying each against the md5
// of its uncompressed contents before anything touches the target directory. Files are written
// atomically, so an interrupted or failed download never leaves a partial file under the final name.
import { fsyncDir, writeFileSynced, mkdirp } from '../fsutil';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import * as https from 'https';
import * as path from 'path';
import * as zlib from 'zlib';
import { DigitsError, UsageError } from '../errors';
import { DEFAULT_MAX_IDX_BYTES, isGzip } from './idx';
import { MNIST_FILE_NAMES, MNIST_FILES, MnistFileName } from './mnist';

export { MNIST_FILE_NAMES, MNIST_FILES };
export type { MnistFileName };

/** Tried in order, as in torchvision; Keras' mnist.npz is a different format and is not used. */
export const MNIST_MIRRORS: readonly string[] = ['https://ossci-datasets.s3.amazonaws.com/mnist/', 'http://yann.lecun.com/exdb/mnist/'];

/** md5 of each UNCOMPRESSED file: gzip framing (mtime, level) differs between mirrors, the payload does not. */
export const MNIST_MD5: Readonly<Record<MnistFileName, string>> = {
  'train-images-idx3-ubyte': '6bbc9ace898e44ae57da46a324031adb',
  'train-labels-idx1-ubyte': 'a25bea736e30d166cdddb491f175f624',
  't10k-images-idx3-ubyte': '2646ac647ad5339dbf082846283269ea',
  't10k-labels-idx1-ubyte': '27ae3e4e09519cfbb04c329615203637',
};

export const DEFAULT_FETCH_TIMEOUT_MS = 30_000;
/** The largest real file is under 10 MB compressed; a mirror sending far more is not serving MNIST. */
export const DEFAULT_MAX_DOWNLOAD_BYTES = 64 * 2 ** 20;
const MAX_REDIRECTS = 5;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

export interface DownloadOptions {
  mirrors?: readonly string[];
  log?: (s: string) => void;
  /** Abort a fetch after this long without any data (an idle timeout, so slow links still finish). */
  fetchTimeoutMs?: number;
  maxDownloadBytes?: number;
}

export interface DownloadResult {
  dir: string;
  fetched: MnistFileName[];
  skipped: MnistFileName[];
}

export async function download(dir: string, opts: DownloadOptions = {}): Promise<DownloadResult> {
  const mirrors = opts.mirrors ?? MNIST_MIRRORS;
  if (mirrors.length === 0) throw new UsageError('download needs at least one mirror URL');
  const log = opts.log ?? (() => undefined);
  const fetchOpts: FetchOptions = {
    timeoutMs: opts.fetchTimeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS,
    maxBytes: opts.maxDownloadBytes ?? DEFAULT_MAX_DOWNLOAD_BYTES,
  };
  ensureDir(dir);
  removeStaleTemps(dir);

  const result: DownloadResult = { dir, fetched: [], skipped: [] };
  for (const name of MNIST_FILE_NAMES) {
    if (presentAndValid(dir, name, log)) {
      log(`${name}: already present, md5 ok`);
      result.skipped.push(name);
      continue;
    }
    const gz = await fetchVerified(name, mirrors, fetchOpts, log);
    writeAtomic(path.join(dir, `${name}.gz`), gz);
    log(`${name}.gz: saved (${gz.length} bytes, md5 ok)`);
    result.fetched.push(name);
  }
  return result;
}

export function md5Hex(data: Uint8Array): string {
  return crypto.createHash('md5').update(data).digest('hex');
}

/** Tries each mirror in turn; only a payload whose uncompressed md5 matches is returned. */
async function fetchVerified(
  name: MnistFileName,
  mirrors: readonly string[],
  opts: FetchOptions,
  log: (s: string) => void,
): Promise<Buffer> {
  const failures: string[] = [];
  for (const mirror of mirrors) {
    const url = mirrorUrl(mirror, `${name}.gz`);
    log(`${name}.gz: fetching ${url}`);
    try {
      const gz = await fetchBuffer(url, opts);
      verifyGzip(gz, name);
      return gz;
    } catch (e) {
      const msg = oneLine(e instanceof Error ? e.message : String(e));
      log(`${name}.gz: ${url}: ${msg}`);
      failures.push(`${url}: ${msg}`);
    }
  }
  throw new DigitsError(`download of ${name}.gz failed from every mirror: ${failures.join('; ')}`);
}

function verifyGzip(gz: Buffer, name: MnistFileName): void {
  if (!isGzip(gz)) throw new Error('response is not gzip data');
  const actual = md5Hex(gunzip(gz));
  const expected = MNIST_MD5[name];
  if (actual !== expected) {
    throw new Error(`md5 of uncompressed data is ${actual}, expected ${expected}`);
  }
}

function gunzip(gz: Buffer): Buffer {
  try {
    return zlib.gunzipSync(gz, { maxOutputLength: DEFAULT_MAX_IDX_BYTES });
  } catch (e) {
    throw new Error(`corrupt gzip data (${oneLine((e as Error).message)})`);
  }
}

/** True if `<name>.gz`, or failing that `<name>`, holds the expected data; the loader prefers `.gz` too. */
function presentAndValid(dir: string, name: MnistFileName, log: (s: string) => void): boolean {
  const gzPath = path.join(dir, `${name}.gz`);
  if (fs.existsSync(gzPath)) {
    try {
      verifyGzip(fs.readFileSync(gzPath), name);
      return true;
    } catch (e) {
      log(`${gzPath}: ${oneLine((e as Error).message)}; downloading again`);
      return false;
    }
  }
  const rawPath = path.join(dir, name);
  if (!fs.existsSync(rawPath)) return false;
  try {
    if (md5Hex(fs.readFileSync(rawPath)) === MNIST_MD5[name]) return true;
  } catch {
    // unreadable raw copy: fall through and fetch the .gz, which the loader prefers
  }
  log(`${rawPath}: md5 mismatch; downloading ${name}.gz`);
  return false;
}

function mirrorUrl(mirror: string, file: string): string {
  return new URL(file, mirror.endsWith('/') ? mirror : `${mirror}/`).toString();
}

export interface FetchOptions {
  timeoutMs: number;
  maxBytes: number;
}

/** GET over http or https, following up to 5 redirects; rejects on any non-200 final status. */
export function fetchBuffer(url: string, opts: FetchOptions, redirectsLeft = MAX_REDIRECTS): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      reject(new Error(`invalid URL ${url}`));
      return;
    }
    const client = u.protocol === 'https:' ? https : u.protocol === 'http:' ? http : undefined;
    if (client === undefined) {
      reject(new Error(`unsupported protocol ${u.protocol}`));
      return;
    }

    // The first fault wins: destroying a request also raises secondary errors ("aborted", ECONNRESET).
    let settled = false;
    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      req.destroy();
      reject(err);
    };
    const succeed = (buf: Buffer): void => {
      if (settled) return;
      settled = true;
      resolve(buf);
    };

    // agent: false so no keep-alive socket outlives the download and holds the CLI process open.
    const req = client.get(u, { agent: false, headers: { 'user-agent': 'digits', 'accept-encoding': 'identity' } }, (res) => {
      const status = res.statusCode ?? 0;
      if (REDIRECT_STATUSES.has(status)) {
        res.resume();
        const location = res.headers.location;
        if (!location) return fail(new Error(`HTTP ${status} redirect without a Location header`));
        if (redirectsLeft <= 0) return fail(new Error(`more than ${MAX_REDIRECTS} redirects`));
        settled = true;
        fetchBuffer(new URL(location, u).toString(), opts, redirectsLeft - 1).then(resolve, reject);
        return;
      }
      if (status !== 200) {
        res.resume();
        return fail(new Error(`HTTP ${status}${res.statusMessage ? ` ${res.statusMessage}` : ''}`));
      }
      const declared = res.headers['content-length'] === undefined ? undefined : Number(res.headers['content-length']);
      if (declared !== undefined && declared > opts.maxBytes) {
        return fail(new Error(`response of ${declared} bytes exceeds the limit of ${opts.maxBytes}`));
      }
      const chunks: Buffer[] = [];
      let received = 0;
      res.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received > opts.maxBytes) return fail(new Error(`response exceeds the limit of ${opts.maxBytes} bytes`));
        chunks.push(chunk);
      });
      res.on('error', (err) => fail(err));
      res.on('aborted', () => fail(new Error(`connection closed after ${received} bytes`)));
      res.on('end', () => {
        if (!res.complete || (declared !== undefined && received !== declared)) {
          return fail(new Error(`truncated response: ${received} of ${declared ?? '?'} bytes`));
        }
        succeed(Buffer.concat(chunks, received));
      });
    });
    req.setTimeout(opts.timeoutMs, () => fail(new Error(`timed out after ${opts.timeoutMs} ms without data`)));
    req.on('error', (err) => fail(err));
  });
}

function ensureDir(dir: string): void {
  try {
    mkdirp(dir);
  } catch (e) {
    throw new DigitsError(`cannot create directory ${dir}: ${oneLine((e as Error).message)}`);
  }
}

/** Write to `<file>.tmp-<pid>`, fsync, rename: readers see the old state or the complete file, never a prefix. */
export function writeAtomic(file: string, data: Uint8Array): void {
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    writeFileSynced(tmp, data);
    fs.renameSync(tmp, file);
  } catch (e) {
    try {
      fs.unlinkSync(tmp);
    } catch {
      /* may never have been created */
    }
    throw new DigitsError(`cannot write ${file}: ${oneLine((e as Error).message)}`);
  }
  fsyncDir(path.dirname(file));
}

/** Temp files left by a killed download (its pid no longer running) are removed; live ones are left alone. */
function removeStaleTemps(dir: string): void {
  let entries: string[];
  try {
    entries = fs.readdirSync(dir);
  } catch {
    return;
  }
  const names = new Set<string>(MNIST_FILE_NAMES.map((n) => `${n}.gz`));
  for (const entry of entries) {
    const m = /^(.*)\.tmp-(\d+)$/.exec(entry);
    if (!m || !names.has(m[1])) continue;
    const pid = Number(m[2]);
    if (pid !== process.pid && isRunning(pid)) continue;
    try {
      fs.unlinkSync(path.join(dir, entry));
    } catch {
      /* raced with another cleaner */
    }
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}
