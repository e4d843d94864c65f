#!/usr/bin/env node
// Builds the WebAssembly core (src/kernels/wasm.ts) from wasm/src/*.c with Debian's clang and wasm-ld
// (apt: clang-16 lld-16; scripts/setup.sh installs them): wasm32, 128-bit SIMD, atomics on a shared
// imported memory, no libc. Two variants of the same sources:
//   wasm/digits.wasm          SIMD128 only: every engine with wasm SIMD and threads;
//   wasm/digits-relaxed.wasm  plus relaxed SIMD (-mrelaxed-simd -DDIGITS_RELAXED): the GEMM tiles'
//                             multiply-adds are f32x4.relaxed_madd, one FMA on x64 (Chrome >= 114;
//                             Node 20 behind a V8 flag src/kernels/wasm.ts sets).
// Both are committed and shipped in the package, so installing digits never needs a compiler; `npm run
// build` rebuilds them where the toolchain is present (byte-for-byte reproducible with the same clang)
// and otherwise keeps the committed files. `node wasm/build.js --check` rebuilds into temp files and
// exits 1 when either committed .wasm differs from the sources; --require fails instead of skipping
// without clang.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const dir = __dirname;
/** The variants: file name and the flags added to FLAGS. */
const VARIANTS = [
  { file: 'digits.wasm', flags: [] },
  { file: 'digits-relaxed.wasm', flags: ['-mrelaxed-simd', '-DDIGITS_RELAXED'] },
];
const sources = fs
  .readdirSync(path.join(dir, 'src'))
  .filter((f) => f.endsWith('.c'))
  .sort()
  .map((f) => path.join('src', f));
// Maximum memory: 2 GiB (int32 sizes in C; src/kernels/wasm.ts creates the memory with the same maximum).
const MAX_MEMORY = 2 * 1024 * 1024 * 1024;
const FLAGS = [
  '--target=wasm32',
  '-O3',
  '-msimd128',
  '-matomics',
  '-mbulk-memory',
  '-mmutable-globals',
  '-mnontrapping-fptoint',
  '-nostdlib',
  '-ffreestanding',
  '-fno-math-errno',
  '-std=c11',
  '-Wall',
  '-Wextra',
  '-Werror',
  '-Wno-unused-parameter',
  '-Wno-missing-field-initializers',
  '-Wl,--no-entry',
  '-Wl,--import-memory',
  '-Wl,--shared-memory',
  `-Wl,--max-memory=${MAX_MEMORY}`,
  '-Wl,--stack-first',
  '-Wl,-z,stack-size=1048576',
  '-Wl,--export=__stack_pointer',
  '-Wl,--export=__heap_base',
  '-Wl,--strip-all',
];

function findClang() {
  // pinned: another clang would build different (if equivalent) bytes than the committed file
  for (const cc of [process.env.DIGITS_WASM_CC || 'clang-16']) {
    const r = spawnSync(cc, ['--version'], { encoding: 'utf8' });
    if (r.status === 0) return { cc, version: r.stdout.split('\n')[0] };
  }
  return null;
}

function build(clang, variant, target) {
  const r = spawnSync(clang.cc, [...FLAGS, ...variant.flags, '-o', target, ...sources], { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${clang.cc} failed (${variant.file}):\n${r.stderr || r.stdout}`);
}

function main() {
  const check = process.argv.includes('--check');
  const require_ = process.argv.includes('--require');
  const clang = findClang();
  if (!clang) {
    const msg =
      'digits: wasm core not rebuilt (no clang-16 with wasm-ld: apt install clang-16 lld-16); keeping the committed wasm/digits.wasm and wasm/digits-relaxed.wasm';
    if (require_ || check) {
      console.error(msg);
      process.exit(1);
    }
    console.log(msg);
    return;
  }
  const stale = [];
  for (const v of VARIANTS) {
    const out = path.join(dir, v.file);
    const target = check ? path.join(os.tmpdir(), `digits-wasm-${process.pid}-${v.file}`) : out;
    try {
      build(clang, v, target);
    } catch (e) {
      fs.rmSync(target, { force: true });
      console.error(`digits: ${e.message}`);
      process.exit(1);
    }
    if (check) {
      const same = fs.existsSync(out) && Buffer.compare(fs.readFileSync(out), fs.readFileSync(target)) === 0;
      fs.rmSync(target, { force: true });
      if (!same) stale.push(`wasm/${v.file}`);
    } else {
      console.log(`digits: wasm core built (wasm/${v.file}, ${fs.statSync(out).size} bytes, ${clang.version})`);
    }
  }
  if (!check) return;
  if (stale.length) {
    console.error(
      `digits: ${stale.join(' and ')} ${stale.length > 1 ? 'are' : 'is'} not what ${clang.version} builds from wasm/src: run node wasm/build.js and commit them`,
    );
    process.exit(1);
  }
  console.log(`digits: wasm/digits.wasm and wasm/digits-relaxed.wasm match wasm/src (${clang.version})`);
}

main();
