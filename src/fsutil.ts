// Durable writes shared by model saving, checkpoints and downloads: data reaches the disk before a
// rename publishes it, so a crash leaves the old state or the new one, never a prefix.
import * as fs from 'node:fs';

export function writeFileSynced(file: string, data: string | Uint8Array, mode = 0o644): void {
  const fd = fs.openSync(file, 'w', mode);
  try { fs.writeFileSync(fd, data); fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
}

/** Makes a rename durable; some file systems refuse fsync on directories, which then only costs durability. */
export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try { fd = fs.openSync(dir, 'r'); fs.fsyncSync(fd); } catch { /* best effort */ } finally { if (fd !== undefined) { try { fs.closeSync(fd); } catch { /* ignore */ } } }
}
