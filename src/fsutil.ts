// Durable writes shared by model saving, checkpoints and downloads: data reaches the disk before a
// rename publishes it, so a crash leaves the old state or the new one, never a prefix.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DigitsError } from './errors';

export function writeFileSynced(file: string, data: string | Uint8Array, mode = 0o644): void {
  const fd = fs.openSync(file, 'w', mode);
  try {
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Makes a rename durable; some file systems refuse fsync on directories, which then only costs durability. */
export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    /* best effort */
  } finally {
    if (fd !== undefined) {
      try {
        fs.closeSync(fd);
      } catch {
        /* ignore */
      }
    }
  }
}

/**
 * mkdir -p, one component at a time. Node's own recursive mkdirSync spins forever on some paths (under
 * /proc it keeps retrying ENOENT), so this loop is bounded by the path's depth and fails with the cause.
 */
export function mkdirp(dir: string): void {
  const target = path.resolve(dir);
  const missing: string[] = [];
  let at = target;
  while (!fs.existsSync(at)) {
    missing.push(at);
    const up = path.dirname(at);
    if (up === at) break;
    at = up;
  }
  for (const d of missing.reverse()) {
    try {
      fs.mkdirSync(d);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
}

/**
 * Checks, before any long work, that `target` (a file or a directory to be written) can be written: its
 * nearest existing ancestor is a directory we can create entries in (tried, not assumed: root passes
 * access() checks on /proc), and it is not inside the data directory. `what` names the option in errors.
 */
export function checkWritableTarget(target: string, what: string, dataDir?: string): void {
  const abs = path.resolve(target);
  if (dataDir) {
    const rel = path.relative(path.resolve(dataDir), abs);
    if (rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel)))
      throw new DigitsError(`${what} ${target}: inside the data directory ${dataDir}; write outputs elsewhere`);
  }
  let at = path.dirname(abs);
  for (let depth = 0; !fs.existsSync(at) && depth < 256; depth++) at = path.dirname(at);
  if (!fs.statSync(at).isDirectory()) throw new DigitsError(`${what} ${target}: ${at} is not a directory`);
  let probe: string | undefined;
  try {
    probe = fs.mkdtempSync(path.join(at, '.digits-write-test-'));
  } catch (e) {
    throw new DigitsError(`${what} ${target}: cannot write in ${at} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  } finally {
    if (probe)
      try {
        fs.rmdirSync(probe);
      } catch {
        /* best effort */
      }
  }
}
