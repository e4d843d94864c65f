// Bundles web/app.ts for the browser into dist/web/app.js. The model code reaches the native
// backend's loader (src/kernels/native.ts, node:fs) only through a lazy require the page never
// calls (it passes the reference kernels), so that module is replaced by a stub.
'use strict';
const path = require('node:path');
const esbuild = require('esbuild');

const stubNative = {
  name: 'stub-native',
  setup(build) {
    build.onResolve({ filter: /^\.\/native$/ }, (args) =>
      args.importer.includes(`${path.sep}kernels${path.sep}`) ? { path: 'native', namespace: 'stub' } : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'stub' }, () => ({
      contents: 'module.exports = { loadNative: () => null, nativeInfo: () => null, setThreads() {} };',
      loader: 'js',
    }));
  },
};

// The lab (web/lab.html): the page and its training worker as ES modules sharing chunks, so what only
// some visits need (vega for the charts, h5wasm for Keras files) loads on first use. The model code's
// node-only paths (files, zlib, sharp) are never called there: those modules are empty stubs.
const NODE_ONLY = /^(node:)?(fs|path|os|zlib|url|crypto|worker_threads)$|^sharp$/;
const stubNode = {
  name: 'stub-node',
  setup(build) {
    build.onResolve({ filter: NODE_ONLY }, (args) => ({ path: args.path, namespace: 'node-stub' }));
    build.onLoad({ filter: /.*/, namespace: 'node-stub' }, () => ({ contents: 'module.exports = {};', loader: 'js' }));
  },
};

const labDir = path.join(__dirname, '..', 'dist', 'web', 'lab');
// chunks are named by content: a rebuild would otherwise leave the old ones beside the new
require('node:fs').rmSync(labDir, { recursive: true, force: true });
const lab = esbuild.build({
  entryPoints: [path.join(__dirname, 'lab.ts'), path.join(__dirname, 'lab-worker.ts')],
  outdir: labDir,
  bundle: true,
  splitting: true,
  minify: true,
  sourcemap: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  chunkNames: 'chunk-[hash]',
  define: { 'process.env.DIGITS_BACKEND': '"reference"' },
  plugins: [stubNative, stubNode],
  logLevel: 'warning',
});

const app = esbuild.build({
  entryPoints: [path.join(__dirname, 'app.ts')],
  outfile: path.join(__dirname, '..', 'dist', 'web', 'app.js'),
  bundle: true,
  minify: true,
  sourcemap: true,
  format: 'iife',
  platform: 'browser',
  target: 'es2020',
  define: { 'process.env.DIGITS_BACKEND': '"reference"' },
  // kernels/index.ts reaches the wasm core's Node loader (fs, path, os) through a lazy require too
  plugins: [stubNative, stubNode],
  logLevel: 'warning',
});

Promise.all([app, lab]).catch(() => process.exit(1));
