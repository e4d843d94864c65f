import { test, describe, before } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { parseIdx, readIdx, MAX_IDX_ELEMENTS } from '../src/data/idx';
import { escapeRe, expectDigitsError, idxBuffer, tempDir, writeIdx } from './helpers/datafixtures';

describe('idx reader', () => {
  let dir: string;
  before(() => {
    dir = tempDir('digits-idx-');
  });

  const file = (name: string): string => path.join(dir, name);
  const named = (p: string): RegExp => new RegExp(`^${escapeRe(p)}: `);

  test('parses a raw images file', () => {
    const data = Array.from({ length: 2 * 3 * 4 }, (_, i) => i);
    const p = writeIdx(file('ok-images.idx'), { dims: [2, 3, 4], data });
    const idx = readIdx(p);
    assert.deepEqual(idx.dims, [2, 3, 4]);
    assert.deepEqual(Array.from(idx.data), data);
  });

  test('parses a gzip file, detected by magic rather than by extension', () => {
    const p = writeIdx(file('labels-no-ext'), { dims: [5], data: [0, 1, 2, 3, 4] }, true);
    const idx = readIdx(p);
    assert.deepEqual(idx.dims, [5]);
    assert.deepEqual(Array.from(idx.data), [0, 1, 2, 3, 4]);
  });

  test('accepts 1 to 4 dimensions, including a zero-sized one', () => {
    assert.deepEqual(parseIdx(idxBuffer({ dims: [1, 2, 1, 2] }), 'mem').dims, [1, 2, 1, 2]);
    assert.equal(parseIdx(idxBuffer({ dims: [0, 28, 28] }), 'mem').data.length, 0);
  });

  test('parseIdx works on a subarray with a non-zero byteOffset', () => {
    const inner = idxBuffer({ dims: [3], data: [7, 8, 9] });
    const outer = Buffer.concat([Buffer.from([0xff, 0xff, 0xff]), inner]);
    assert.deepEqual(Array.from(parseIdx(outer.subarray(3), 'mem').data), [7, 8, 9]);
  });

  test('missing file', () => {
    const p = file('does-not-exist-idx1-ubyte');
    expectDigitsError(() => readIdx(p), named(p), /file not found/);
  });

  test('directory instead of file', () => {
    expectDigitsError(() => readIdx(dir), named(dir), /not a regular file/);
  });

  test('bad magic', () => {
    const p = writeIdx(file('bad-magic'), { dims: [3], data: [1, 2, 3], magic: [0x50, 0x4b] });
    expectDigitsError(() => readIdx(p), named(p), /bad magic 0x504b0801/, /not an idx file/);
  });

  test('unsupported type byte', () => {
    const p = writeIdx(file('float-type'), { dims: [3], data: [1, 2, 3], type: 0x0d });
    expectDigitsError(() => readIdx(p), named(p), /unsupported data type 0x0d/);
  });

  test('dimension count 0 and 5 are rejected', () => {
    const p0 = writeIdx(file('ndim0'), { dims: [], data: [] });
    expectDigitsError(() => readIdx(p0), named(p0), /unsupported dimension count 0/);
    const p5 = writeIdx(file('ndim5'), { dims: [1, 1, 1, 1, 1], data: [9] });
    expectDigitsError(() => readIdx(p5), named(p5), /unsupported dimension count 5/);
  });

  test('too short for any header', () => {
    const p = file('three-bytes');
    fs.writeFileSync(p, Buffer.from([0, 0, 8]));
    expectDigitsError(() => readIdx(p), named(p), /too short for an idx header \(3 bytes/);
    const empty = file('empty');
    fs.writeFileSync(empty, Buffer.alloc(0));
    expectDigitsError(() => readIdx(empty), named(empty), /too short.*0 bytes/);
  });

  test('too short for the declared dimension sizes', () => {
    const p = file('short-dims');
    fs.writeFileSync(p, Buffer.from([0, 0, 8, 3, 0, 0, 0, 2, 0, 0]));
    expectDigitsError(() => readIdx(p), named(p), /too short for an idx header with 3 dimensions \(10 bytes, need 16\)/);
  });

  test('truncated data', () => {
    const p = file('truncated');
    fs.writeFileSync(p, idxBuffer({ dims: [10, 2, 2] }).subarray(0, 16 + 39));
    expectDigitsError(() => readIdx(p), named(p), /expected 56 bytes, got 55 \(truncated\)/, /10x2x2/);
  });

  test('trailing garbage', () => {
    const p = file('trailing');
    fs.writeFileSync(p, Buffer.concat([idxBuffer({ dims: [4], data: [1, 1, 1, 1] }), Buffer.from([1, 2, 3])]));
    expectDigitsError(() => readIdx(p), named(p), /expected 12 bytes, got 15 \(3 trailing bytes\)/);
  });

  test('header claiming 4 billion images fails fast without allocating', () => {
    const header = Buffer.alloc(16);
    header.writeUInt32BE(0x00000803, 0);
    header.writeUInt32BE(4_000_000_000, 4);
    header.writeUInt32BE(28, 8);
    header.writeUInt32BE(28, 12);
    const raw = file('huge-raw');
    fs.writeFileSync(raw, header);
    const gz = file('huge.gz');
    fs.writeFileSync(gz, zlib.gzipSync(header));

    const before = process.memoryUsage().arrayBuffers;
    const t0 = process.hrtime.bigint();
    expectDigitsError(() => readIdx(raw), named(raw), /header claims 3136000000000 elements/, /4000000000x28x28/, /2\^31/);
    expectDigitsError(() => readIdx(gz), named(gz), /header claims/);
    // 1-D, and 2^31 - 1 elements: under the element limit, so the bytes-present check must catch it
    const labels = idxBuffer({ dims: [MAX_IDX_ELEMENTS - 1], data: [] });
    expectDigitsError(() => parseIdx(labels, 'huge-labels'), /^huge-labels: /, /expected 2147483655 bytes, got 8 \(truncated\)/);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    assert.ok(ms < 200, `took ${ms} ms`);
    assert.ok(process.memoryUsage().arrayBuffers - before < 64 * 2 ** 20, 'allocated a large buffer');
  });

  test('corrupt gzip: flipped bytes and truncated stream', () => {
    const good = zlib.gzipSync(idxBuffer({ dims: [200], data: Array.from({ length: 200 }, (_, i) => i) }));
    const flipped = Buffer.from(good);
    for (let i = 12; i < flipped.length - 8; i += 3) flipped[i] ^= 0xa5;
    const p1 = file('flipped.gz');
    fs.writeFileSync(p1, flipped);
    expectDigitsError(() => readIdx(p1), named(p1), /corrupt gzip data/);

    const p2 = file('cut.gz');
    fs.writeFileSync(p2, good.subarray(0, good.length - 10));
    expectDigitsError(() => readIdx(p2), named(p2), /corrupt gzip data/);
  });

  test('gzip bomb stops at the output bound', () => {
    const p = file('bomb.gz');
    fs.writeFileSync(p, zlib.gzipSync(Buffer.alloc(4 * 2 ** 20)));
    expectDigitsError(() => readIdx(p, { maxBytes: 2 ** 16 }), named(p), /decompresses to more than the limit of 65536 bytes/);
  });

  test('raw file larger than the bound is refused before reading', () => {
    const p = writeIdx(file('big-raw'), { dims: [1000] });
    expectDigitsError(() => readIdx(p, { maxBytes: 100 }), named(p), /file is 1008 bytes, more than the limit of 100/);
  });
});
