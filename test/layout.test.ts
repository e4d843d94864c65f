// The source layout's rules (scripts/check-imports.js): no import cycles, and imports only down the stack
// layers → model → io → train → zoo → cli/serve/web. A violation is named with both files.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';

const ROOT = path.resolve(__dirname, '../..');
const SCRIPT = path.join(ROOT, 'scripts/check-imports.js');

test('imports: no cycles, and none up the stack', () => {
  const r = spawnSync(process.execPath, [SCRIPT], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /no cycles, all down the stack/);
});

test('an import up the stack is caught, naming both files', () => {
  // on a copy of the sources, so that the checkout itself is never edited
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'digits-layout-'));
  try {
    for (const d of ['src', 'web']) fs.cpSync(path.join(ROOT, d), path.join(copy, d), { recursive: true });
    const file = path.join(copy, 'src/layers/flatten.ts');
    fs.appendFileSync(file, `\nimport type { Sequential } from '../model/sequential';\n`);
    const r = spawnSync(process.execPath, [SCRIPT, copy], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /src\/layers\/flatten\.ts \(layers\) imports src\/model\/sequential\.ts \(model\)/);
  } finally {
    fs.rmSync(copy, { recursive: true, force: true });
  }
});
