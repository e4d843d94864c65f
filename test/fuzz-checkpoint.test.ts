// Property-based fuzzing of the checkpoint reader: state.json trees edited (with the checksum file
// rewritten so the edits reach the validator), state.bin and weights.bin mangled. A checkpoint that
// reads must restore and resume; everything else is a one-line DigitsError.
import { test } from 'node:test';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { latestCheckpoint, readCheckpoint, restoreCheckpoint, writeCheckpoint } from '../src/train/checkpoint';
import { tempDir } from './helpers/datafixtures';
import { applyEdits, applyMutations, edit, fuzz, mutation, newTally, oracle } from './helpers/fuzz';
import { fitArgs, RUN, tinyData, tinyModel } from './helpers/tinyrun';

const sha = (b: Uint8Array) => crypto.createHash('sha256').update(b).digest('hex');

test('fuzz readCheckpoint → restoreCheckpoint → resume: edited state, mangled binaries', async (t) => {
  const { x, y } = tinyData(40);
  const src = tempDir('digits-fuzz-ckpt-');
  const m = tinyModel();
  let batches = 0;
  // a mid-epoch checkpoint, so the sample order and running sums are in it too
  m.fit(x, y, {
    ...fitArgs(),
    callbacks: [
      ...fitArgs().callbacks!,
      {
        onBatchEnd: () => {
          batches++;
        },
      },
    ],
    checkpoint: {
      save: (s) => writeCheckpoint(src, m, s, { run: RUN, trainSeconds: 1, backend: 'reference' }),
      interrupted: () => batches >= 3,
    },
  });
  const base = latestCheckpoint(src)!;
  const files = Object.fromEntries(fs.readdirSync(base).map((f) => [f, fs.readFileSync(path.join(base, f))]));
  const dir = path.join(tempDir('digits-fuzz-ckpt-'), 'ckpt-000001-epoch1-batch1');
  fs.mkdirSync(dir);
  const tally = newTally();
  const prop = fc.property(
    fc.array(edit, { maxLength: 3 }),
    fc.constantFrom('state.bin', 'weights.bin', 'model.json', null),
    fc.array(mutation(64), { minLength: 1, maxLength: 2 }),
    fc.boolean(),
    (edits, target, ms, fixSums) => {
      const out: Record<string, Buffer> = { ...files };
      out['state.json'] = Buffer.from(JSON.stringify(applyEdits(JSON.parse(files['state.json'].toString()), edits)));
      if (target) out[target] = applyMutations(files[target], ms);
      if (fixSums) out['state.sha256'] = Buffer.from(`${sha(out['state.bin'])}  state.bin\n${sha(out['state.json'])}  state.json\n`);
      for (const [f, b] of Object.entries(out)) fs.writeFileSync(path.join(dir, f), b);
      oracle(tally, () => {
        const ckpt = readCheckpoint(dir);
        const resumed = tinyModel();
        restoreCheckpoint(resumed, ckpt);
        resumed.fit(x, y, { ...fitArgs(), resume: ckpt.fit });
      });
    },
  );
  try {
    await fuzz(t, 'readCheckpoint', tally, prop, 1500, 5);
  } finally {
    for (const d of [src, path.dirname(dir)]) fs.rmSync(d, { recursive: true, force: true });
  }
});
