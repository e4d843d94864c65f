// The source layout's rules (scripts/check-imports.js): no import cycles, and imports only down the stack
// layers → model → io → train → zoo → cli/serve/web. A violation is named with both files.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';

const ROOT = path.resolve(__dirname, '../..');
const SCRIPT = path.join(ROOT, 'scripts/check-imports.js');

test('imports: no cycles, and none up the stack', () => {
  const r = spawnSync(process.execPath, [SCRIPT], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /no cycles, all down the stack/);
});

test('an import up the stack is caught, naming both files', (t) => {
  const file = path.join(ROOT, 'src/layers/flatten.ts');
  const original = fs.readFileSync(file, 'utf8');
  t.after(() => fs.writeFileSync(file, original));
  fs.writeFileSync(file, `${original}\nimport type { Sequential } from '../model/sequential';\n`);
  const r = spawnSync(process.execPath, [SCRIPT], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /src\/layers\/flatten\.ts \(layers\) imports src\/model\/sequential\.ts \(model\)/);
});
