// Bundles web/app.ts for the browser into dist/web/app.js. The model code reaches the native
// backend's loader (src/kernels/native.ts, node:fs) only through a lazy require the page never
// calls (it passes the reference kernels), so that module is replaced by a stub.
'use strict';
const path = require('node:path');
const esbuild = require('esbuild');

const stubNative = {
  name: 'stub-native',
  setup(build) {
    build.onResolve({ filter: /^\.\/native$/ }, (args) => (args.importer.includes(`${path.sep}kernels${path.sep}`) ? { path: 'native', namespace: 'stub' } : undefined));
    build.onLoad({ filter: /.*/, namespace: 'stub' }, () => ({ contents: 'module.exports = { loadNative: () => null, nativeInfo: () => null, setThreads() {} };', loader: 'js' }));
  },
};

esbuild.build({
  entryPoints: [path.join(__dirname, 'app.ts')],
  outfile: path.join(__dirname, '..', 'dist', 'web', 'app.js'),
  bundle: true, minify: true, sourcemap: true, format: 'iife', platform: 'browser', target: 'es2020',
  define: { 'process.env.DIGITS_BACKEND': '"reference"' },
  plugins: [stubNative], logLevel: 'warning',
}).catch(() => process.exit(1));
