#!/usr/bin/env node
// Two rules over src/ and web/, run by `npm run lint` and the tests; each fault is printed, exit 1.
// 1. No import cycles (runtime imports; `import type` is erased by the compiler, it cannot cycle at run time).
// 2. Imports, type imports included, run one way, down this stack (a directory may import its own
//    files and anything below it, never above):
//      errors, fsutil, rng, tensor → kernels, data → layers → model → io → train → zoo, report, lab → cli, serve → web
//    (src/index.ts, the package's entry, sits on top.)
'use strict';
const fs = require('node:fs');
const path = require('node:path');

// the checkout to check: this one, or another given as the argument (the tests check a doctored copy)
const root = path.resolve(process.argv[2] ?? path.join(__dirname, '..'));
const dirs = ['src', 'web'].map((d) => path.join(root, d));

function files(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return files(p);
    return /\.ts$/.test(e.name) && !/\.d\.ts$/.test(e.name) ? [p] : [];
  });
}

/** Runtime imports of a TypeScript file: import/export … from, bare imports, require() and import(). */
function importsOf(file) {
  const text = fs
    .readFileSync(file, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/^\s*\/\/.*$/gm, '');
  const specs = [];
  const statement = /(?:^|\n)\s*(import|export)\s+(type\s+)?([^;'"]*?)\s*from\s*['"]([^'"]+)['"]/g;
  for (let m; (m = statement.exec(text));) {
    const typeOnly =
      m[2] ||
      (/^\{[^}]*\}$/.test(m[3].trim()) &&
        m[3]
          .replace(/[{}]/g, '')
          .split(',')
          .every((s) => /^\s*type\s/.test(s) || !s.trim()));
    if (!typeOnly) specs.push(m[4]);
  }
  for (const re of [
    /(?:^|\n)\s*import\s+['"]([^'"]+)['"]/g,
    /\brequire\(\s*['"]([^'"]+)['"]\s*\)/g,
    /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
  ]) {
    for (let m; (m = re.exec(text));) specs.push(m[1]);
  }
  return specs
    .filter((s) => s.startsWith('.'))
    .map((s) => resolve(file, s))
    .filter(Boolean);
}

function resolve(from, spec) {
  const base = path.resolve(path.dirname(from), spec);
  for (const c of [`${base}.ts`, path.join(base, 'index.ts')]) if (fs.existsSync(c)) return c;
  return null;
}

const all = dirs.filter((d) => fs.existsSync(d)).flatMap(files);
const graph = new Map(all.map((f) => [f, importsOf(f)]));

// Tarjan's strongly connected components: any component of more than one file is a cycle
let index = 0;
const idx = new Map(),
  low = new Map(),
  stack = [],
  on = new Set(),
  cycles = [];
function visit(v) {
  idx.set(v, index);
  low.set(v, index);
  index++;
  stack.push(v);
  on.add(v);
  for (const w of graph.get(v) ?? []) {
    if (!idx.has(w)) {
      visit(w);
      low.set(v, Math.min(low.get(v), low.get(w)));
    } else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
  }
  if (low.get(v) === idx.get(v)) {
    const comp = [];
    let w;
    do {
      w = stack.pop();
      on.delete(w);
      comp.push(w);
    } while (w !== v);
    if (comp.length > 1) cycles.push(comp);
  }
}
for (const f of graph.keys()) if (!idx.has(f)) visit(f);

const rel = (f) => path.relative(root, f);
for (const c of cycles) console.error(`import cycle among ${c.length} files: ${c.map(rel).sort().join(', ')}`);

const RANK = { errors: 0, fsutil: 0, rng: 0, tensor: 0, kernels: 1, data: 1, layers: 2, model: 3, io: 4, train: 5 };
Object.assign(RANK, { zoo: 6, report: 6, lab: 6, cli: 7, serve: 7, web: 8, index: 9 });
/** src/<dir>/… → dir, src/<file>.ts → file, web/… → web. */
function part(file) {
  const [top, second, third] = rel(file).split(path.sep);
  if (top === 'web') return 'web';
  return third === undefined ? second.replace(/\.ts$/, '') : second;
}
/** Every relative import, `import type` and `export … from` included. */
function allImportsOf(file) {
  const text = fs
    .readFileSync(file, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/^\s*\/\/.*$/gm, '');
  const specs = [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*|\brequire\(\s*)['"](\.[^'"]+)['"]/g)].map((m) => m[1]);
  return specs.map((s) => resolve(file, s)).filter(Boolean);
}
const upward = [];
for (const f of all) {
  const a = part(f);
  if (!(a in RANK)) upward.push(`${rel(f)}: ${a} has no place in the stack (scripts/check-imports.js)`);
  for (const t of allImportsOf(f))
    if (RANK[part(t)] > RANK[a]) upward.push(`${rel(f)} (${a}) imports ${rel(t)} (${part(t)}), which sits above it`);
}
for (const u of upward) console.error(`import against the layering: ${u}`);

if (cycles.length === 0 && upward.length === 0) console.log(`imports: ${graph.size} files, no cycles, all down the stack`);
else process.exitCode = 1;
