// The decoded-idx cache: a gzipped idx file's decoded bytes, kept so that later loads skip gunzip (a
// quarter of a second for MNIST's training images, most of it page faults on the output). An entry sits
// beside the data (<dir>/.digits-cache/<file>.decoded), or, where that directory cannot be written (a
// read-only share), in ~/.cache/digits/decoded/<hash of the directory's real path>/. Each entry starts
// with the SHA-256 and size of the source file it was decoded from; every load hashes the source (~10 ms
// for MNIST's 9.7 MB) and serves the entry only on a match, so a changed, replaced or copied-over file is
// never served stale, whatever its timestamps say. Entries are written to a temp file, fsynced and
// renamed into place, so a reader sees a whole entry or none; any failure to write one is silent (the
// load goes on from the source). DIGITS_DATA_CACHE=0 turns the cache off.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

/** Sources smaller than this are decoded every time (labels: a few ms). */
export const MIN_CACHED_SOURCE_BYTES = 1 << 20;
const MAGIC = Buffer.from('digitsD1', 'latin1');
export const ENTRY_HEADER_BYTES = 64;
const CHUNK = 1 << 20;

export interface SourceId {
  sha256: Buffer;
  size: number;
}

export function cacheEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.DIGITS_DATA_CACHE !== '0';
}

/** Where an entry for `file` may live, in the order looked in and written to. */
export function entryPaths(file: string): string[] {
  const dir = path.dirname(path.resolve(file));
  let real = dir;
  try {
    real = fs.realpathSync(dir);
  } catch {
    /* gone: the hash of the name then */
  }
  const key = crypto.createHash('sha256').update(real).digest('hex').slice(0, 16);
  const name = `${path.basename(file)}.decoded`;
  return [path.join(dir, '.digits-cache', name), path.join(os.homedir(), '.cache', 'digits', 'decoded', key, name)];
}

/** SHA-256 and size of a file's bytes, read through one reused buffer (no allocation the size of the file). */
export function identify(file: string): SourceId {
  const h = crypto.createHash('sha256');
  const fd = fs.openSync(file, 'r');
  let size = 0;
  try {
    const buf = Buffer.allocUnsafe(CHUNK);
    for (let n; (n = fs.readSync(fd, buf, 0, CHUNK, null)) > 0; size += n) h.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return { sha256: h.digest(), size };
}

function header(id: SourceId, payloadBytes: number): Buffer {
  const b = Buffer.alloc(ENTRY_HEADER_BYTES);
  MAGIC.copy(b, 0);
  id.sha256.copy(b, 8);
  b.writeBigUInt64LE(BigInt(id.size), 40);
  b.writeBigUInt64LE(BigInt(payloadBytes), 48);
  return b;
}

export interface Entry {
  path: string;
  fd: number;
  /** The decoded idx bytes' length; they follow the header. */
  payloadBytes: number;
}

/**
 * An open, verified entry for a source with this identity: the header's magic, hash and size match and
 * the file holds exactly the payload it declares. Null on a miss (the caller closes `fd`).
 */
export function openEntry(file: string, id: SourceId, maxBytes: number): Entry | null {
  for (const p of entryPaths(file)) {
    let fd: number;
    try {
      fd = fs.openSync(p, 'r');
    } catch {
      continue;
    }
    try {
      const h = Buffer.alloc(ENTRY_HEADER_BYTES);
      const st = fs.fstatSync(fd);
      if (
        fs.readSync(fd, h, 0, ENTRY_HEADER_BYTES, 0) === ENTRY_HEADER_BYTES &&
        h.subarray(0, 8).equals(MAGIC) &&
        h.subarray(8, 40).equals(id.sha256) &&
        h.readBigUInt64LE(40) === BigInt(id.size)
      ) {
        const payloadBytes = Number(h.readBigUInt64LE(48));
        if (payloadBytes <= maxBytes && st.size === ENTRY_HEADER_BYTES + payloadBytes) return { path: p, fd, payloadBytes };
      }
    } catch {
      /* unreadable: a miss */
    }
    fs.closeSync(fd);
  }
  return null;
}

/**
 * Whether we may write in a directory as its mode bits say, for root too: root can write anywhere, but a
 * directory without write bits (a read-only data share, as CI lays shared/) is not ours to fill.
 */
export function writableDir(dir: string): boolean {
  try {
    const st = fs.statSync(dir);
    if (!st.isDirectory()) return false;
    fs.accessSync(dir, fs.constants.W_OK); // read-only mounts, ACLs
    const uid = process.getuid?.() ?? -1,
      gids = process.getgroups?.() ?? [];
    const bit = uid === st.uid ? 0o200 : gids.includes(st.gid) ? 0o020 : 0o002;
    return (st.mode & bit) !== 0 || (uid === 0 && st.uid !== 0 && (st.mode & 0o222) !== 0);
  } catch {
    return false;
  }
}

/** Writes an entry atomically to the first location that takes it; false when none does. */
export function writeEntry(file: string, id: SourceId, payload: Uint8Array): boolean {
  for (const [i, p] of entryPaths(file).entries()) {
    // beside the data only where the data directory (or the .digits-cache in it) is writable by its mode
    if (i === 0 && !writableDir(fs.existsSync(path.dirname(p)) ? path.dirname(p) : path.dirname(path.dirname(p)))) continue;
    const tmp = `${p}.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
    try {
      fs.mkdirSync(path.dirname(p), { recursive: true });
      const fd = fs.openSync(tmp, 'wx');
      try {
        fs.writeSync(fd, header(id, payload.length));
        for (let off = 0; off < payload.length;) off += fs.writeSync(fd, payload, off, Math.min(payload.length - off, 16 * CHUNK));
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(tmp, p);
      removeStaleTemps(p);
      return true;
    } catch {
      try {
        fs.rmSync(tmp, { force: true });
      } catch {
        /* nothing to remove */
      }
    }
  }
  return false;
}

/** Temp files of writers that died (older than ten minutes) beside an entry. */
function removeStaleTemps(entry: string): void {
  const dir = path.dirname(entry),
    prefix = `${path.basename(entry)}.tmp-`;
  try {
    for (const f of fs.readdirSync(dir)) {
      if (!f.startsWith(prefix)) continue;
      const p = path.join(dir, f);
      if (Date.now() - fs.statSync(p).mtimeMs > 600_000) fs.rmSync(p, { force: true });
    }
  } catch {
    /* best effort */
  }
}

/** Reads `length` bytes at `position` into `buf` (a short read is an error: the file changed under us). */
export function readFully(fd: number, buf: Uint8Array, position: number, what: string): void {
  for (let off = 0; off < buf.length;) {
    const n = fs.readSync(fd, buf, off, buf.length - off, position + off);
    if (n === 0) throw new Error(`${what}: file ended early`);
    off += n;
  }
}
