// Node globals the shared model code touches outside Node: src/io/hdf5.ts scans a file's bytes for
// "GCOL" through Buffer.from(…).indexOf(string) before h5wasm opens it. Just that much of Buffer.
class BytesView extends Uint8Array {
  override indexOf(needle: number | string, from = 0): number {
    if (typeof needle === 'number') return super.indexOf(needle, from);
    const n = new TextEncoder().encode(needle);
    if (n.length === 0) return from;
    for (let i = super.indexOf(n[0], from); i >= 0 && i + n.length <= this.length; i = super.indexOf(n[0], i + 1)) {
      let k = 1;
      while (k < n.length && this[i + k] === n[k]) k++;
      if (k === n.length) return i;
    }
    return -1;
  }
}

const g = globalThis as unknown as { Buffer?: unknown };
g.Buffer ??= {
  from: (buf: ArrayBuffer | Uint8Array, offset?: number, length?: number): Uint8Array =>
    buf instanceof Uint8Array
      ? new BytesView(buf.buffer as ArrayBuffer, buf.byteOffset, buf.byteLength)
      : new BytesView(buf, offset ?? 0, length),
  isBuffer: () => false,
};

export {};
