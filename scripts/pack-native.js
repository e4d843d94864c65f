#!/usr/bin/env node
// Builds the prebuilt platform package @digits/native-linux-x64 (npm/linux-x64/) and packs it:
//   node scripts/pack-native.js [--out DIR] [--main] [--tiers x64,avx2,avx512]
// The addon is compiled once per SIMD tier (native/cpu-flags.js) with DT_RPATH $ORIGIN, and the shared
// libraries it needs beyond what Node itself links (libdnnl, libgomp, libOpenCL: found with ldd, so a
// different oneDNN build brings its own) are copied beside it with their Debian copyright files. The
// package is assembled in DIR/stage-linux-x64, never in npm/linux-x64 (the in-repo workspace link would
// then shadow native/build), and packed to DIR (default dist/pack). --main also packs digits itself
// (npm pack --ignore-scripts: run tsc and web/build.js first). Compiled tiers are kept in
// node_modules/.cache/digits-native, keyed by a hash of the sources and flags, so a rerun only packs.
// Prints one JSON line: the tarballs with their packed and unpacked sizes.
'use strict';
const { spawnSync } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { cpuTier } = require('../native/cpu-flags.js');

const root = path.resolve(__dirname, '..');
const PLATFORM = 'linux-x64';
const ALL_TIERS = ['x64', 'avx2', 'avx512'];
// Linked by Node itself (or the C runtime), so present wherever Node runs; never bundled.
const SYSTEM = /^(linux-vdso|ld-linux-x86-64|libc|libm|libdl|libpthread|librt|libstdc\+\+|libgcc_s)\.so/;

function die(msg) {
  console.error(`pack-native: ${msg}`);
  process.exit(1);
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...opts });
  if (r.error) die(`${cmd}: ${r.error.message}`);
  if (r.status !== 0)
    die(`${cmd} ${args.join(' ')} exited with ${r.status}\n${(r.stdout || '').slice(-4000)}${(r.stderr || '').slice(-4000)}`);
  return r.stdout;
}

function parseArgs(argv) {
  const o = { out: path.join(root, 'dist', 'pack'), main: false, tiers: ALL_TIERS };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--out') o.out = path.resolve(argv[++i]);
    else if (a === '--main') o.main = true;
    else if (a === '--tiers') o.tiers = argv[++i].split(',');
    else die(`unknown option ${a} (--out DIR, --main, --tiers x64,avx2,avx512)`);
  }
  for (const t of o.tiers) if (!ALL_TIERS.includes(t)) die(`unknown tier ${t} (${ALL_TIERS.join(', ')})`);
  return o;
}

function nodeGyp() {
  try {
    return require.resolve('node-gyp/bin/node-gyp.js', { paths: [root] });
  } catch {
    die('node-gyp not found: run npm ci');
  }
}

/** Everything the compiled addon depends on: sources, build files, flags, the oneDNN headers' version. */
function sourceKey(tier) {
  const h = crypto.createHash('sha256');
  const nativeDir = path.join(root, 'native');
  const files = [
    'binding.gyp',
    'cpu-flags.js',
    ...fs
      .readdirSync(path.join(nativeDir, 'src'))
      .sort()
      .map((f) => `src/${f}`),
  ];
  for (const f of files)
    h.update(f)
      .update('\0')
      .update(fs.readFileSync(path.join(nativeDir, f)))
      .update('\0');
  for (const f of ['/usr/include/oneapi/dnnl/dnnl_version.h', '/usr/include/node/node_api.h']) {
    if (fs.existsSync(f)) h.update(fs.readFileSync(f));
  }
  h.update(`${tier}\0${process.versions.napi}\0${require('node-addon-api/package.json').version}`);
  return h.digest('hex').slice(0, 16);
}

/** The addon for one tier, compiled in a scratch copy of native/ (native/build stays the in-repo build). */
function buildTier(tier) {
  const cacheDir = path.join(root, 'node_modules', '.cache', 'digits-native');
  const cached = path.join(cacheDir, `digits_native.${tier}.${sourceKey(tier)}.node`);
  if (fs.existsSync(cached)) return { file: cached, built: false };
  const work = fs.mkdtempSync(path.join(os.tmpdir(), `digits-native-${tier}-`));
  try {
    for (const f of ['binding.gyp', 'cpu-flags.js', 'src'])
      fs.cpSync(path.join(root, 'native', f), path.join(work, f), { recursive: true });
    const args = [nodeGyp(), 'rebuild', '-j', 'max'];
    if (fs.existsSync('/usr/include/node/node_api.h')) args.push('--nodedir=/usr');
    args.push('--', `-Ddigits_isa=${tier}`, '-Ddigits_prebuilt=1');
    const t0 = Date.now();
    // the scratch copy resolves node-addon-api (binding.gyp's include_dirs) from the repository's node_modules
    run(process.execPath, args, { cwd: work, env: { ...process.env, NODE_PATH: path.join(root, 'node_modules') } });
    console.error(`pack-native: compiled the ${tier} addon in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    fs.mkdirSync(cacheDir, { recursive: true });
    const tmp = `${cached}.${process.pid}.tmp`;
    fs.copyFileSync(path.join(work, 'build', 'Release', 'digits_native.node'), tmp);
    fs.renameSync(tmp, cached);
    return { file: cached, built: true };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** ldd's resolved libraries of a file, name → path, less the ones every Node process already has. */
function bundledLibraries(file) {
  const libs = new Map();
  for (const line of run('ldd', [file]).split('\n')) {
    const m = /^\s*(\S+)\s+=>\s+(\S+)/.exec(line);
    if (!m) continue;
    if (m[2] === 'not') die(`${path.basename(file)} needs ${m[1]}, which is not installed`);
    if (!SYSTEM.test(m[1])) libs.set(m[1], m[2]);
  }
  if (!libs.has('libdnnl.so.2'))
    die(`${file} does not link libdnnl.so.2 (ldd found ${[...libs.keys()].join(', ') || 'nothing to bundle'})`);
  return libs;
}

/** The Debian package owning a file, for its copyright file; null off Debian. */
function debianPackage(file) {
  // dpkg knows a library by the path its package installed, which may be the symlink or its target, under /lib or /usr/lib
  const real = fs.realpathSync(file);
  for (const p of new Set([file, real, real.replace(/^\/lib\//, '/usr/lib/'), file.replace(/^\/lib\//, '/usr/lib/')])) {
    const r = spawnSync('dpkg', ['-S', p], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout) return r.stdout.split(':')[0];
  }
  return null;
}

function rpathOf(file) {
  const m = /\((RPATH|RUNPATH)\)\s+Library (?:rpath|runpath): \[([^\]]*)\]/.exec(run('readelf', ['-d', file]));
  return m ? { kind: m[1], path: m[2] } : null;
}

function dirBytes(dir) {
  let n = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    n += e.isDirectory() ? dirBytes(p) : fs.statSync(p).size;
  }
  return n;
}

function npmPack(cwd, out, extra = []) {
  const npm =
    process.env.npm_execpath && fs.existsSync(process.env.npm_execpath) ? [process.execPath, [process.env.npm_execpath]] : ['npm', []];
  const json = run(npm[0], [...npm[1], 'pack', '--json', '--pack-destination', out, ...extra], { cwd });
  const info = JSON.parse(json.slice(json.indexOf('[')))[0];
  const file = path.join(out, info.filename);
  return { file, packedBytes: fs.statSync(file).size, unpackedBytes: info.unpackedSize, entries: info.entryCount };
}

function main() {
  const o = parseArgs(process.argv.slice(2));
  if (`${process.platform}-${process.arch}` !== PLATFORM)
    die(`this machine is ${process.platform}-${process.arch}; only ${PLATFORM} is packaged here`);
  if (!fs.existsSync('/usr/include/oneapi/dnnl/dnnl.hpp')) die('oneDNN headers missing: install libdnnl-dev (scripts/setup.sh)');
  const rootPkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  const template = path.join(root, 'npm', PLATFORM);
  const pkg = JSON.parse(fs.readFileSync(path.join(template, 'package.json'), 'utf8'));
  if (pkg.version !== rootPkg.version)
    die(`npm/${PLATFORM}/package.json is version ${pkg.version} but digits is ${rootPkg.version}: keep them equal`);
  if (rootPkg.optionalDependencies?.[pkg.name] !== pkg.version)
    die(`package.json's optionalDependencies must list ${pkg.name}: ${pkg.version}`);

  fs.mkdirSync(o.out, { recursive: true });
  const stage = path.join(o.out, `stage-${PLATFORM}`);
  fs.rmSync(stage, { recursive: true, force: true });
  const lib = path.join(stage, 'lib');
  const licenses = path.join(stage, 'licenses');
  fs.mkdirSync(lib, { recursive: true });
  fs.mkdirSync(licenses);
  for (const f of ['package.json', 'README.md']) fs.copyFileSync(path.join(template, f), path.join(stage, f));

  const libs = new Map();
  const compiled = [];
  for (const tier of o.tiers) {
    const { file, built } = buildTier(tier);
    if (built) compiled.push(tier);
    const dest = path.join(lib, `digits_native.${tier}.node`);
    fs.copyFileSync(file, dest);
    const rp = rpathOf(dest);
    if (!rp || rp.kind !== 'RPATH' || rp.path !== '$ORIGIN')
      die(`${dest}: expected DT_RPATH $ORIGIN, found ${rp ? `${rp.kind} ${rp.path}` : 'none'}`);
    for (const [name, p] of bundledLibraries(dest)) libs.set(name, p);
  }
  for (const [name, p] of libs) {
    fs.copyFileSync(p, path.join(lib, name)); // follows the symlink: the real library under its soname
    const deb = debianPackage(p);
    const copyright = deb && `/usr/share/doc/${deb.replace(/:.*$/, '')}/copyright`;
    if (copyright && fs.existsSync(copyright)) fs.copyFileSync(copyright, path.join(licenses, `${deb.replace(/:.*$/, '')}.copyright`));
  }

  // Smoke test: this CPU's tier loads from the stage with every bundled library mapped from there.
  const best = cpuTier(fs.readFileSync('/proc/cpuinfo', 'utf8'));
  const tier = o.tiers.includes(best) ? best : o.tiers[0];
  const probe = `const a = require(${JSON.stringify(path.join(lib, `digits_native.${tier}.node`))}); a.info();
    const maps = require('fs').readFileSync('/proc/self/maps', 'utf8').split('\\n').map((l) => l.split(/\\s+/)[5]).filter(Boolean);
    console.log(JSON.stringify(${JSON.stringify([...libs.keys()])}.map((n) => maps.find((m) => require('path').basename(m) === n) || null)));`;
  const mapped = JSON.parse(run(process.execPath, ['-e', probe]));
  [...libs.keys()].forEach((n, i) => {
    if (mapped[i] !== path.join(lib, n)) die(`the staged ${tier} addon mapped ${n} from ${mapped[i]}, not from ${lib}`);
  });

  const out = { platform: npmPack(stage, o.out), stage, tiers: o.tiers, compiled, bundled: [...libs.keys()], unpackedBytes: dirBytes(lib) };
  if (o.main) out.main = npmPack(root, o.out, ['--ignore-scripts']);
  console.log(JSON.stringify(out));
}

main();
