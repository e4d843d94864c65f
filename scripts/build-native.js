#!/usr/bin/env node
// Builds the oneDNN addon (native/) with node-gyp. It runs as the package's `install` script, so a
// machine without libdnnl-dev or a compiler must still finish `npm ci`: on any failure print one
// warning line and exit 0; src/kernels/native.ts then finds no addon and the reference core is used.
// DIGITS_SKIP_NATIVE=1 skips the build; DIGITS_NATIVE_VERBOSE=1 shows node-gyp's full output.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const nativeDir = path.join(root, 'native');

function warn(reason) {
  console.warn(`digits: native core not built (${reason}); the reference core will be used`);
  process.exit(0);
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
  const lines = out.split('\n').map((l) => l.trim()).filter(Boolean);
  const tool = lines.find((l) => !l.startsWith('gyp') && /fatal error|error:|cannot find -l|not found/i.test(l));
  const gyp = lines.find((l) => /^gyp ERR! (stack Error|find)/.test(l));
  return (tool || gyp || lines[lines.length - 1] || 'unknown error').slice(0, 200);
}

function main() {
  if (process.env.DIGITS_SKIP_NATIVE === '1') warn('DIGITS_SKIP_NATIVE=1');
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
