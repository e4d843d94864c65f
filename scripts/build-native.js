#!/usr/bin/env node
// Builds the oneDNN addon (native/) from source with node-gyp. It runs as the package's `install` script
// (where npm runs it: in this repository, or for a user who allows digits' install script), so a
// machine without libdnnl-dev or a compiler must still finish `npm ci`: on any failure print one
// warning line and exit 0; src/kernels/native.ts then finds no addon and the WebAssembly core is used.
// Where the prebuilt platform package (@digits/native-linux-x64, an optional dependency) is installed
// and loads, there is nothing to build. DIGITS_SKIP_NATIVE=1 skips the build; DIGITS_BUILD_NATIVE=1
// builds even beside a prebuilt addon; DIGITS_NATIVE_VERBOSE=1 shows node-gyp's full output.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const nativeDir = path.join(root, 'native');

function warn(reason) {
  console.warn(`digits: native core not built (${reason}); the WebAssembly core will be used`);
  process.exit(0);
}

/** The platform package's addon for this CPU when it is installed and loads (src/kernels/native.ts loads it first). */
function prebuilt() {
  let dir;
  try {
    dir = path.dirname(require.resolve(`@digits/native-${process.platform}-${process.arch}/package.json`, { paths: [root] }));
  } catch {
    return null;
  }
  let tiers = ['x64'];
  try {
    const { cpuTier } = require(path.join(nativeDir, 'cpu-flags.js'));
    const best = cpuTier(fs.readFileSync('/proc/cpuinfo', 'utf8'));
    tiers = { avx512: ['avx512', 'avx2', 'x64'], avx2: ['avx2', 'x64'], x64: ['x64'] }[best];
  } catch {
    /* not Linux: the baseline */
  }
  const file = tiers.map((t) => path.join(dir, 'lib', `digits_native.${t}.node`)).find((f) => fs.existsSync(f));
  if (!file) return null;
  try {
    require(file).info();
    return file;
  } catch {
    return null;
  }
}

function nodeGyp() {
  try {
    return require.resolve('node-gyp/bin/node-gyp.js', { paths: [root] });
  } catch {
    // npm sets this to its bundled node-gyp while running lifecycle scripts
    const bundled = process.env.npm_config_node_gyp;
    return bundled && fs.existsSync(bundled) ? bundled : null;
  }
}

function lastError(out) {
  // The compiler's or linker's own message says more than node-gyp's summary of it.
  const lines = out
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const tool = lines.find((l) => !l.startsWith('gyp') && /fatal error|error:|cannot find -l|not found/i.test(l));
  const gyp = lines.find((l) => /^gyp ERR! (stack Error|find)/.test(l));
  return (tool || gyp || lines[lines.length - 1] || 'unknown error').slice(0, 200);
}

function main() {
  if (process.env.DIGITS_SKIP_NATIVE === '1') warn('DIGITS_SKIP_NATIVE=1');
  const ready = process.env.DIGITS_BUILD_NATIVE === '1' ? null : prebuilt();
  if (ready) {
    console.log(`digits: using the prebuilt native core (${path.relative(root, ready)}); nothing to build`);
    process.exit(0);
  }
  if (!fs.existsSync('/usr/include/oneapi/dnnl/dnnl.hpp')) warn('oneDNN headers missing: install libdnnl-dev');
  const gyp = nodeGyp();
  if (!gyp) warn('node-gyp not found');
  const args = [gyp, 'rebuild', '-j', 'max'];
  // Node's headers can't be downloaded here; Debian's nodejs ships them under /usr/include/node.
  if (fs.existsSync('/usr/include/node/node_api.h')) args.push('--nodedir=/usr');
  const verbose = process.env.DIGITS_NATIVE_VERBOSE === '1';
  const r = spawnSync(process.execPath, args, {
    cwd: nativeDir,
    encoding: 'utf8',
    stdio: verbose ? 'inherit' : 'pipe',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error) warn(r.error.message);
  if (r.status !== 0) warn(verbose ? `node-gyp exited with ${r.status}` : lastError(`${r.stdout}\n${r.stderr}`));
  console.log('digits: native core built (native/build/Release/digits_native.node)');
}

main();
