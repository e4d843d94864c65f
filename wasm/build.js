#!/usr/bin/env node
// Builds wasm/digits.wasm, the WebAssembly core (src/kernels/wasm.ts), from wasm/src/*.c with
// Debian's clang and wasm-ld (apt: clang-16 lld-16; scripts/setup.sh installs them): wasm32, 128-bit
// SIMD, atomics on a shared imported memory, no libc. The .wasm is committed and shipped in the
// package, so installing digits never needs a compiler; `npm run build` rebuilds it where the
// toolchain is present (the output is byte-for-byte reproducible with the same clang) and otherwise
// keeps the committed file. `node wasm/build.js --check` rebuilds into a temp file and exits 1 when
// the committed .wasm differs from the sources; --require fails instead of skipping without clang.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const dir = __dirname;
const out = path.join(dir, 'digits.wasm');
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

function build(target) {
  const clang = findClang();
  if (!clang) return null;
  const r = spawnSync(clang.cc, [...FLAGS, '-o', target, ...sources], { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${clang.cc} failed:\n${r.stderr || r.stdout}`);
  return clang;
}

function main() {
  const check = process.argv.includes('--check');
  const require_ = process.argv.includes('--require');
  const target = check ? path.join(os.tmpdir(), `digits-wasm-${process.pid}.wasm`) : out;
  let clang;
  try {
    clang = build(target);
  } catch (e) {
    console.error(`digits: ${e.message}`);
    process.exit(1);
  }
  if (!clang) {
    const msg =
      'digits: wasm core not rebuilt (no clang-16 with wasm-ld: apt install clang-16 lld-16); keeping the committed wasm/digits.wasm';
    if (require_ || check) {
      console.error(msg);
      process.exit(1);
    }
    console.log(msg);
    return;
  }
  if (check) {
    const same = fs.existsSync(out) && Buffer.compare(fs.readFileSync(out), fs.readFileSync(target)) === 0;
    fs.rmSync(target, { force: true });
    if (!same) {
      console.error(`digits: wasm/digits.wasm is not what ${clang.version} builds from wasm/src: run node wasm/build.js and commit it`);
      process.exit(1);
    }
    console.log(`digits: wasm/digits.wasm matches wasm/src (${clang.version})`);
    return;
  }
  console.log(`digits: wasm core built (wasm/digits.wasm, ${fs.statSync(out).size} bytes, ${clang.version})`);
}

main();
