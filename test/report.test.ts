// Schedules and checkpoints (OneCycle, ModelCheckpoint), and the report: entries from a tiny trained
// model, Markdown with the table, HTML with every figure inlined, the CLI's reproduce / report /
// --ensemble, and a headless Chromium screenshot of the page (skipped when Chromium is absent).
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SHARED_MNIST } from './helpers/paths';
import { tempDir } from './helpers/datafixtures';
import { EarlyStopping, ModelCheckpoint, OneCycle, oneCycleAt, formatCheckpointPath } from '../src/train/callbacks';
import type { Callback } from '../src/model/callback';
import { Sequential, Dense, Flatten, loadModel, saveModel, getPreset } from '../src/index';
import { loadPresetData, trainPreset, type PresetData } from '../src/zoo/recipe';
import { addNotebookModels, entryFromModelDir, entryFromRuns, medianIndex } from '../src/report/entries';
import { markdown, writeReport, type ReportMeta } from '../src/report/report';
import { loadModelFile } from '../src/io/model-file';

const BIN = path.resolve(__dirname, '../../bin/digits.js');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

let root: string;
before(() => {
  root = tempDir('digits-report-');
});

function digits(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function tinyModel(seed = 1): Sequential {
  const m = new Sequential({ seed, layers: [new Flatten({ inputShape: [4, 4, 1] }), new Dense({ units: 3, activation: 'softmax' })] });
  m.compile({ optimizer: 'adam', loss: 'categorical_crossentropy' });
  return m;
}

describe('OneCycle', () => {
  const o = { maxLr: 0.1 };
  test('PyTorch OneCycleLR values: ÷25 start, peak at 30%, cosine to ÷25e4', () => {
    // total 10, warm-up ends at step 0.3·10 − 1 = 2
    assert.ok(Math.abs(oneCycleAt(0, 10, o).lr - 0.004) < 1e-12);
    assert.ok(Math.abs(oneCycleAt(1, 10, o).lr - 0.052) < 1e-12); // halfway up the cosine
    assert.ok(Math.abs(oneCycleAt(2, 10, o).lr - 0.1) < 1e-12);
    assert.ok(Math.abs(oneCycleAt(9, 10, o).lr - 0.1 / 25 / 1e4) < 1e-15);
    const mid = 2 + (9 - 2) / 2; // halfway down: the mean of peak and floor
    assert.ok(Math.abs(oneCycleAt(mid, 10, o).lr - (0.1 + 0.1 / 25e4) / 2) < 1e-12);
    // momentum mirrors the rate: 0.95 → 0.85 at the peak → 0.95
    assert.deepEqual(
      [oneCycleAt(0, 10, o).momentum, oneCycleAt(2, 10, o).momentum, oneCycleAt(9, 10, o).momentum].map((v) => +v.toFixed(12)),
      [0.95, 0.85, 0.95],
    );
    // linear anneal
    assert.ok(Math.abs(oneCycleAt(1, 10, { ...o, annealStrategy: 'linear' }).lr - 0.052) < 1e-12);
    assert.ok(Math.abs(oneCycleAt(5.5, 10, { ...o, annealStrategy: 'linear', finalDivFactor: 1 }).lr - (0.1 + 0.004) / 2) < 1e-12);
  });

  test("set before every batch of fit(), over epochs × steps; Adam's beta1 cycles", () => {
    const m = tinyModel();
    const seen: { lr: number; beta1: number }[] = [];
    const spy: Callback = {
      onBatchEnd: () => seen.push({ lr: m.optimizer.learningRate, beta1: (m.optimizer as unknown as { beta1: number }).beta1 }),
    };
    const n = 40,
      x = new Float32Array(n * 16).fill(0.5),
      y = new Float32Array(n * 3);
    for (let i = 0; i < n; i++) y[i * 3 + (i % 3)] = 1;
    const cb = new OneCycle({ maxLr: 0.01, pctStart: 0.25 });
    const h = m.fit(
      { shape: [n, 4, 4, 1], data: x },
      { shape: [n, 3], data: y },
      { epochs: 3, batchSize: 8, verbose: 0, callbacks: [cb, spy] },
    );
    assert.equal(seen.length, 15);
    seen.forEach((s, step) => {
      const want = oneCycleAt(step, 15, { maxLr: 0.01, pctStart: 0.25 });
      assert.ok(Math.abs(s.lr - want.lr) < 1e-15 && Math.abs(s.beta1 - want.momentum) < 1e-15, `step ${step}`);
    });
    assert.equal(h.history.lr.length, 3);
  });
});

describe('ModelCheckpoint', () => {
  test('save best only: writes on improvement of the monitored value, never otherwise', () => {
    const m = tinyModel();
    const dir = path.join(root, 'ckpt-best');
    const cb = new ModelCheckpoint(dir, {
      monitor: 'val_loss',
      saveBestOnly: true,
      metadata: (epoch, logs) => ({ epoch: epoch + 1, val_loss: logs.val_loss }),
    });
    cb.setModel(m);
    const saved: number[] = [];
    [1.0, 0.5, 0.7, 0.4, 0.4].forEach((v, epoch) => {
      m.getWeights()[0].fill(epoch); // a recognisable weight per epoch
      cb.onEpochEnd(epoch, { loss: 1, val_loss: v });
      if (cb.lastSaved?.epoch === epoch) saved.push(epoch);
    });
    assert.deepEqual(saved, [0, 1, 3]);
    const back = loadModel(dir);
    assert.deepEqual(back.metadata, { epoch: 4, val_loss: 0.4 });
    assert.equal(back.model.getWeights()[0][0], 3);
  });

  test("'acc' monitors maximise; Keras path templates; every epoch without saveBestOnly", () => {
    assert.equal(formatCheckpointPath('m-{epoch:02d}-{val_accuracy:.3f}', 4, { val_accuracy: 0.98765 }), 'm-05-0.988');
    const m = tinyModel();
    const cb = new ModelCheckpoint(path.join(root, 'acc-{epoch:02d}'), { monitor: 'val_accuracy', saveBestOnly: true });
    cb.setModel(m);
    [0.5, 0.9, 0.8].forEach((v, e) => cb.onEpochEnd(e, { val_accuracy: v }));
    assert.deepEqual(
      fs
        .readdirSync(root)
        .filter((f) => f.startsWith('acc-'))
        .sort(),
      ['acc-01', 'acc-02'],
    );
    const every = new ModelCheckpoint(path.join(root, 'every-{epoch}'));
    every.setModel(m);
    [0.3, 0.2].forEach((v, e) => every.onEpochEnd(e, { val_loss: v }));
    assert.deepEqual(
      fs
        .readdirSync(root)
        .filter((f) => f.startsWith('every-'))
        .sort(),
      ['every-1', 'every-2'],
    );
  });

  test("inside fit(): the saved model is the best epoch's", () => {
    const m = tinyModel();
    const n = 30,
      x = new Float32Array(n * 16).map((_v, i) => (i % 7) / 7),
      y = new Float32Array(n * 3);
    for (let i = 0; i < n; i++) y[i * 3 + (i % 3)] = 1;
    const dir = path.join(root, 'ckpt-fit');
    const cb = new ModelCheckpoint(dir, { monitor: 'loss', saveBestOnly: true });
    const h = m.fit(
      { shape: [n, 4, 4, 1], data: x },
      { shape: [n, 3], data: y },
      { epochs: 4, batchSize: 10, verbose: 0, callbacks: [cb] },
    );
    const best = h.history.loss.indexOf(Math.min(...h.history.loss));
    assert.equal(cb.lastSaved?.epoch, best);
    assert.ok(fs.existsSync(path.join(dir, 'model.json')));
  });
});

describe('report', { skip: !fs.existsSync(SHARED_MNIST) && `no MNIST at ${SHARED_MNIST}` }, () => {
  let d: PresetData;
  let modelDir: string;
  let html: string;
  before(async () => {
    d = loadPresetData(SHARED_MNIST, 600);
    const p = getPreset('seed002-mlp');
    const r = await trainPreset(p, d, { seed: 0, epochs: 2, verbose: 0, monitorTest: true });
    modelDir = path.join(root, 'mlp');
    // what `digits train --out` saves
    saveModel(r.model, modelDir, {
      preset: p.name,
      backend: r.backend,
      epochs: r.epochs,
      batchSize: r.batchSize,
      seed: 0,
      history: r.history.history,
      test: r.test,
      trainSeconds: r.trainSeconds,
      samplesPerSecond: r.samplesPerSecond,
    });
  });

  test('a saved model becomes an entry: confusion matrix and mistakes recomputed from the model', () => {
    const e = entryFromModelDir(modelDir, d);
    assert.equal(e.name, 'seed002-mlp');
    assert.equal(e.params, 407050);
    assert.equal(e.reportedAccuracy, 0.98);
    assert.equal(
      e.confusion.flat().reduce((a, b) => a + b, 0),
      10000,
    );
    const hits = e.confusion.reduce((s, row, i) => s + row[i], 0);
    assert.equal(hits / 10000, e.testAccuracy);
    assert.equal(e.misclassifiedTotal, 10000 - hits);
    assert.ok(e.misclassified.length === Math.min(48, e.misclassifiedTotal));
    for (const m of e.misclassified) assert.notEqual(m.label, m.predicted);
    assert.deepEqual(Object.keys(e.history).sort(), ['accuracy', 'loss', 'test_accuracy', 'test_loss']);
  });

  test('Markdown has the table and figure links; HTML inlines every figure as SVG', async () => {
    const e = entryFromModelDir(modelDir, d);
    const meta: ReportMeta = {
      title: 'test report',
      generated: '2026-01-01T00:00:00Z',
      version: 'test',
      backend: 'backend x',
      machine: 'm',
      seeds: 1,
      epochsScale: 1,
    };
    const out = path.join(root, 'report');
    // 2 epochs is not the recipe's 5, so no target; the second entry carries one to show the verdict
    assert.equal(e.target, null);
    const w = await writeReport([e, { ...e, name: 'second', target: 0.5 }], meta, out);
    const md = fs.readFileSync(w.markdown, 'utf8');
    assert.match(md, /^\| preset \| params \| seed's accuracy \| ours \| target \| epochs \| minutes \| samples\/s \|$/m);
    assert.match(md, /^\| seed002-mlp \| 407,050 \| 98\.00% \| \d+\.\d\d% \| — \| 2 \| \d+\.\d \| [\d,]+ \|$/m);
    assert.match(md, /^\| second \| 407,050 \| 98\.00% \| \d+\.\d\d% \| ≥ 50\.00% ✓ \| 2 \| \d+\.\d \| [\d,]+ \|$/m);
    for (const kind of ['curves', 'confusion', 'misclassified']) {
      assert.match(md, new RegExp(`!\\[[^\\]]+\\]\\(figures/seed002-mlp-${kind}\\.png\\)`));
      const png = fs.readFileSync(path.join(out, 'figures', `seed002-mlp-${kind}.png`));
      assert.deepEqual([...png.subarray(1, 4)], [...Buffer.from('PNG')]);
      assert.match(fs.readFileSync(path.join(out, 'figures', `seed002-mlp-${kind}.svg`), 'utf8'), /^<svg[\s\S]*<\/svg>\s*$/);
    }
    html = fs.readFileSync(w.html, 'utf8');
    const figures = [...html.matchAll(/<img alt="([^"]+)" src="data:image\/svg\+xml;base64,([^"]+)">/g)];
    assert.equal(figures.length, 6);
    for (const [, alt, b64] of figures) {
      const svg = Buffer.from(b64, 'base64').toString('utf8');
      assert.match(svg, /^<svg[\s\S]*<\/svg>\s*$/, alt);
    }
    const curves = Buffer.from(figures[0][2], 'base64').toString('utf8');
    for (const label of ['loss', 'accuracy', 'training', 'test (watch only)', 'the notebook']) assert.ok(curves.includes(label), label);
    // the notebook's own run (reference-runs/seed002-mlp.json), named, drawn and tabulated beside ours
    assert.match(
      md,
      /The notebook's own run \(crhota\/MNIST-Handwritten-Digit-Recognition-with-CNN-in-Python-using-Keras, src\/MNIST_MLP_CNN\.ipynb: .*\) reached 98\.02% on the test set/,
    );
    assert.match(md, /^\| epoch \| loss \(ours\) \| loss \(notebook\) \| accuracy \(ours\) \| accuracy \(notebook\) \|$/m);
    assert.match(md, /^\| 1 \| \d\.\d{4} \| 0\.2532 \| \d\.\d{4} \| 0\.9264 \|$/m);
    assert.match(
      md,
      /^\| 5 \| — \| 0\.0371 \| — \| 0\.9890 \|$/m,
      "our 2-epoch run leaves the notebook's later epochs alone in their column",
    );
    // self-contained: nothing fetched from anywhere
    assert.doesNotMatch(html.replace(/"data:[^"]+"/g, '"DATA"'), /(src|href)="(?!#|DATA")/);
    assert.match(html, /<table id="summary">/);
  });

  test('the page renders in headless Chromium with every figure drawn', async (t) => {
    if (!html) return t.skip('no page (the previous test failed)');
    if (!fs.existsSync(CHROMIUM)) return t.skip(`no Chromium at ${CHROMIUM} (apt-get install chromium)`);
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      await page.goto('file://' + path.join(root, 'report', 'report.html'));
      await page.waitForLoadState('load');
      const imgs = await page.$$eval('img', (els) =>
        els.map((e) => {
          const i = e as HTMLImageElement;
          return { alt: i.alt, ok: i.complete && i.naturalWidth > 100, w: i.getBoundingClientRect().width };
        }),
      );
      assert.equal(imgs.length, 6);
      for (const i of imgs) assert.ok(i.ok && i.w > 100, `${i.alt} drawn`);
      const rows = await page.$$eval('#summary tr', (r) => r.length);
      assert.equal(rows, 3);
      const shot = await page.screenshot({ fullPage: true });
      fs.writeFileSync(path.join(root, 'report', 'screenshot.png'), shot);
      if (process.env.DIGITS_KEEP_SCREENSHOT)
        fs.copyFileSync(path.join(root, 'report', 'screenshot.png'), process.env.DIGITS_KEEP_SCREENSHOT);
      const sharp = (await import('sharp')).default;
      const { width, height } = await sharp(shot).metadata();
      assert.ok(width >= 1000 && height > 1500, `full page ${width}x${height}`);
      const stats = await sharp(shot).stats();
      assert.ok(stats.channels[0].stdev > 20, 'the screenshot is not blank');
    } finally {
      await browser.close();
    }
  });

  test('medianIndex picks the middle run (the lower one of an even count)', () => {
    assert.equal(medianIndex([{ testAccuracy: 0.9 }, { testAccuracy: 0.8 }, { testAccuracy: 0.95 }]), 0);
    assert.equal(medianIndex([{ testAccuracy: 0.9 }, { testAccuracy: 0.8 }]), 1);
    const runs = [0.97, 0.95, 0.96].map((a, seed) => ({
      seed,
      testAccuracy: a,
      testLoss: 0.1,
      trainSeconds: 60,
      samplesPerSecond: 1000,
      epochs: 1,
      history: { loss: [0.1] },
      batchSize: 32,
      backend: 'x',
      modelDir,
    }));
    const e = entryFromRuns(getPreset('seed002-mlp'), runs, d, { epochsScale: 1 });
    assert.equal(e.shownSeed, 2);
    assert.equal(e.totalSeconds, 180);
  });
});

describe('CLI: reproduce, report, --ensemble', { skip: !fs.existsSync(SHARED_MNIST) && `no MNIST at ${SHARED_MNIST}` }, () => {
  test('digits reproduce (quick: --limit, --epochs-scale) writes the report, reuses finished runs, says it is not the recipe', () => {
    const out = path.join(root, 'repro');
    const args = ['reproduce', '--only', 'seed002-mlp', '--limit', '500', '--epochs-scale', '0.2', '--data', SHARED_MNIST, '--out', out];
    const r = digits(...args);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^seed002-mlp\s+407,050\s+98\.00%\s+\d+\.\d\d%\s+—\s+1\s/m);
    const md = fs.readFileSync(path.join(out, 'report.md'), 'utf8');
    assert.match(md, /Quick run: every recipe's epochs were scaled by 0\.2/);
    assert.ok(fs.existsSync(path.join(out, 'runs', 'seed002-mlp', 'seed-0', 'model.json')));
    const again = digits(...args);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /reusing the finished run/);
    // a run saved with another recipe (here: another batch size) is trained again, not reused
    const saved = path.join(out, 'runs', 'seed002-mlp', 'seed-0', 'model.json');
    const mj = JSON.parse(fs.readFileSync(saved, 'utf8'));
    assert.equal(mj.userDefinedMetadata.digits.recipe.batchSize, 120);
    mj.userDefinedMetadata.digits.recipe.batchSize = 64;
    fs.writeFileSync(saved, JSON.stringify(mj));
    const changed = digits(...args);
    assert.equal(changed.code, 0, changed.stderr);
    assert.doesNotMatch(changed.stderr, /reusing the finished run/);
    assert.equal(JSON.parse(fs.readFileSync(saved, 'utf8')).userDefinedMetadata.digits.recipe.batchSize, 120);
    const rep = digits('report', path.join(out, 'runs', 'seed002-mlp', 'seed-0'), '--data', SHARED_MNIST, '--out', path.join(root, 'one'));
    assert.equal(rep.code, 0, rep.stderr);
    assert.match(fs.readFileSync(path.join(root, 'one', 'report.html'), 'utf8'), /data:image\/svg\+xml;base64/);
    // the page says what the saved run was trained in, not a fixed line
    assert.match(fs.readFileSync(path.join(root, 'one', 'report.md'), 'utf8'), /Precision: trained in fp32; evaluated here in fp32/);
    assert.equal(digits('reproduce', '--epochs-scale', '2').code, 2);
    assert.equal(digits('reproduce', '--only', 'nope').code, 2);
  });

  test('digits reproduce --seeds takes per-preset counts (3,seed000-kaggle=1) and the report says how many each row used', () => {
    const out = path.join(root, 'repro-seeds');
    const r = digits(
      'reproduce',
      '--only',
      'seed002-mlp,seed001-small,seed002-mlp-tuned',
      '--seeds',
      '2,seed001-small=1,seed002-mlp-tuned=1',
      '--limit',
      '300',
      '--epochs-scale',
      '0.05',
      '--data',
      SHARED_MNIST,
      '--out',
      out,
      '--json',
    );
    assert.equal(r.code, 0, r.stderr);
    const res = JSON.parse(r.stdout.slice(r.stdout.indexOf('{'))).results as Array<{ preset: string; seeds: number[] }>;
    assert.deepEqual(
      res.map((e) => [e.preset, e.seeds.length]),
      [
        ['seed002-mlp', 2],
        ['seed001-small', 1],
        ['seed002-mlp-tuned', 1],
      ],
    );
    const md = fs.readFileSync(path.join(out, 'report.md'), 'utf8');
    assert.match(md, /median over the seeds its row counts \(seed002-mlp 2, seed001-small 1, seed002-mlp-tuned 1\)/);
    // the twin's row says what it changed, and its recipe line shows the schedule
    assert.match(md, /- seed002-mlp-tuned: the seed's layers, optimizer, batch size and epochs under a one-cycle learning-rate schedule/);
    assert.match(md, /## seed002-mlp-tuned[\s\S]*?Recipe: rmsprop lr 0\.002, .*one-cycle schedule \(peak 0\.002/);
    for (const bad of ['x', '2,nope=1', 'seed001-small=1', '2,seed001-small=0', '2,seed001-small']) {
      const b = digits('reproduce', '--seeds', bad, '--out', path.join(root, 'never'));
      assert.equal(b.code, 2, `--seeds ${bad}: ${b.stderr}`);
      assert.match(b.stderr, /^digits: (--seeds|unknown preset)/, bad);
    }
  });

  test('digits train --ensemble 2 averages two seeds and saves members that digits report renders', () => {
    const out = path.join(root, 'ens');
    const r = digits('train', 'seed002-mlp', '--ensemble', '2', '--epochs', '1', '--limit', '300', '--data', SHARED_MNIST, '--out', out);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^member seed002-mlp seed 0: test accuracy/m);
    assert.match(r.stdout, /^member seed002-mlp seed 1: test accuracy/m);
    assert.match(r.stdout, /^ensemble of 2 \(probabilities averaged\): test accuracy \d+\.\d\d%/m);
    const file = JSON.parse(fs.readFileSync(path.join(out, 'ensemble.json'), 'utf8'));
    assert.deepEqual(file.members, ['member-1', 'member-2']);
    // digits evaluate with both member directories soft-votes them to the same numbers
    const ev = digits('evaluate', path.join(out, 'member-1'), path.join(out, 'member-2'), '--data', SHARED_MNIST, '--json');
    assert.equal(ev.code, 0, ev.stderr);
    const votes = JSON.parse(ev.stdout);
    assert.equal(votes.accuracy, file.test.accuracy);
    assert.deepEqual(
      votes.members.map((m: { accuracy: number }) => m.accuracy),
      file.memberAccuracies,
    );
    assert.equal(
      votes.confusionMatrix.flat().reduce((a: number, b: number) => a + b, 0),
      10000,
    );
    assert.ok(votes.loss > 0 && votes.loss < 2.31, `ensemble loss ${votes.loss}`);
    const rep = digits('report', out, '--data', SHARED_MNIST);
    assert.equal(rep.code, 0, rep.stderr);
    assert.match(fs.readFileSync(`${out}-report/report.md`, 'utf8'), /seed002-mlp ensemble of 2/);
    assert.equal(digits('train', 'seed002-mlp', '--ensemble', '2', '--lr', '0.1').code, 2);
  });

  test('digits train digits-best --ensemble 3 alternates digits-best and its partner digits-best-strided; the report shows both networks', () => {
    const out = path.join(root, 'ens-mixed');
    const r = digits(
      'train',
      'digits-best',
      '--ensemble',
      '3',
      '--seed',
      '4',
      '--epochs',
      '1',
      '--limit',
      '256',
      '--data',
      SHARED_MNIST,
      '--out',
      out,
      '--json',
    );
    assert.equal(r.code, 0, r.stderr);
    const res = JSON.parse(r.stdout);
    assert.deepEqual(
      res.members.map((m: { preset: string; seed: number }) => [m.preset, m.seed]),
      [
        ['digits-best', 4],
        ['digits-best-strided', 4],
        ['digits-best', 5],
      ],
    );
    const file = JSON.parse(fs.readFileSync(path.join(out, 'ensemble.json'), 'utf8'));
    assert.deepEqual(
      [file.presets, file.seeds],
      [
        ['digits-best', 'digits-best-strided', 'digits-best'],
        [4, 4, 5],
      ],
    );
    // member 2 is the strided network: no pooling layer, stride-2 convolutions, saved under its own preset
    const mj = JSON.parse(fs.readFileSync(path.join(out, 'member-2', 'model.json'), 'utf8'));
    const layers = mj.modelTopology.config.layers as { class_name: string; config: { strides?: number[] } }[];
    assert.ok(!layers.some((l) => l.class_name === 'MaxPooling2D'));
    assert.deepEqual(layers.filter((l) => l.config.strides?.[0] === 2).length, 2);
    assert.equal(mj.userDefinedMetadata.digits.preset, 'digits-best-strided');
    const rep = digits('report', out, '--data', SHARED_MNIST, '--out', `${out}-report`);
    assert.equal(rep.code, 0, rep.stderr);
    const md = fs.readFileSync(`${out}-report/report.md`, 'utf8');
    assert.match(md, /\| digits-best ensemble of 3 \| [\d,]+ \| — \(our design\) \| \d+\.\d\d% \(vote of 3\) \|/);
    assert.match(md, /Members alternate between digits-best and digits-best-strided/);
    assert.match(
      md,
      /\| 1: digits-best, seed 4 \(shown\) \|[^\n]*\n\| 2: digits-best-strided, seed 4 \|[^\n]*\n\| 3: digits-best, seed 5 \|/,
    );
    assert.match(md, /Precision: trained in (bf16|fp32); evaluated here in fp32/);
    assert.match(md, /digits-best-strided:\n[\s\S]*Total params: 218,474/);
  });
});

describe('the seed notebooks beside our runs (issue 16)', { skip: !fs.existsSync(SHARED_MNIST) && `no MNIST at ${SHARED_MNIST}` }, () => {
  const SEED003 = path.resolve(__dirname, '../../../shared/keras/seed003-model.h5');
  let d: PresetData;
  before(() => {
    d = loadPresetData(SHARED_MNIST, 100);
  });

  test('EarlyStopping stops as Keras 2.4 does: patience epochs without improvement, then the best weights back', () => {
    // seed003's notebook: best val_loss at epoch 13, stopped after epoch 23
    const valLoss = [
      0.0522, 0.0441, 0.0294, 0.0298, 0.0213, 0.0283, 0.0288, 0.0308, 0.0259, 0.0268, 0.0263, 0.0257, 0.0203, 0.0245, 0.0249, 0.0294,
      0.0257, 0.0317, 0.0296, 0.0274, 0.0347, 0.0273, 0.0281, 0.029, 0.03,
    ];
    const m = tinyModel();
    const cb = new EarlyStopping({ monitor: 'val_loss', patience: 10, restoreBestWeights: true });
    cb.setModel(m);
    let epoch = 0;
    for (; epoch < valLoss.length && !m.stopTraining; epoch++) {
      m.getWeights()[0].fill(epoch + 1);
      cb.onEpochEnd(epoch, { loss: 0, val_loss: valLoss[epoch] });
    }
    assert.equal(epoch, 23);
    assert.equal(cb.stoppedEpoch, 22);
    assert.equal(m.getWeights()[0][0], 13, "epoch 13's weights restored");
  });

  test("seed presets follow their notebooks: batch 120 and 60, seed003's whole recipe with the test set as validation data, and a clean variant", () => {
    assert.equal(getPreset('seed002-mlp').recipe.batchSize, 120);
    assert.equal(getPreset('seed002-cnn').recipe.batchSize, 60);
    const r = getPreset('seed003-bn').recipe;
    assert.deepEqual(
      [r.optimizer, r.learningRate, r.batchSize, r.epochs, r.validation, r.validationSplit],
      ['rmsprop', 1e-3, 32, 30, 'test', 0],
    );
    assert.deepEqual(r.earlyStopping, { monitor: 'val_loss', patience: 10, restoreBestWeights: true });
    const h = getPreset('seed003-bn-holdout').recipe;
    assert.deepEqual([h.validation, h.validationSplit, h.batchSize, h.epochs], [undefined, 0.1, 32, 30]);
    assert.deepEqual(
      getPreset('seed003-bn')
        .build()
        .layers.filter((l) => l.className === 'Dropout')
        .map((l) => (l as unknown as { rate: number }).rate),
      [0.25, 0.25, 0.25],
    );
    for (const t of ['seed002-mlp-tuned', 'seed002-cnn-tuned', 'seed003-bn-tuned'])
      assert.equal(getPreset(t).recipe.batchSize, getPreset(t.replace('-tuned', '')).recipe.batchSize);
    const models = digits('models');
    assert.match(models.stdout, /validation data: the TEST set, as the notebook did/);
    assert.match(models.stdout, /the notebook's: AmirVahedi18\/mnist-cnn, mnist\.ipynb/);
  });

  test(
    "a seed003 entry scores the notebook's own model.h5 beside ours, tabulates both runs per epoch, and draws both",
    { skip: !fs.existsSync(SEED003) && 'no seed003-model.h5' },
    async () => {
      const { model } = await loadModelFile(SEED003);
      const history = {
        loss: [0.3, 0.07, 0.05],
        accuracy: [0.9, 0.98, 0.985],
        val_loss: [0.05, 0.04, 0.03],
        val_accuracy: [0.98, 0.985, 0.99],
      };
      const run = {
        seed: 0,
        testAccuracy: 0.994,
        testLoss: 0.0203,
        trainSeconds: 1,
        samplesPerSecond: 1,
        epochs: 3,
        history,
        batchSize: 32,
        backend: 'x',
        model,
      };
      const e = entryFromRuns(getPreset('seed003-bn'), [run], d, { epochsScale: 1 });
      await addNotebookModels([e], d, path.dirname(SEED003));
      const m = e.reference?.model;
      assert.ok(m && 'accuracy' in m);
      assert.equal(Math.round(m.accuracy * 10000), 9940);
      assert.equal(m.loss.toFixed(4), '0.0203');
      const meta: ReportMeta = {
        title: 'seed003',
        generated: '2026-01-01T00:00:00Z',
        version: 'test',
        backend: 'b',
        machine: 'm',
        seeds: 1,
        epochsScale: 1,
      };
      const out = path.join(root, 'report003');
      const w = await writeReport([e], meta, out);
      const md = fs.readFileSync(w.markdown, 'utf8');
      assert.match(
        md,
        /The notebook's own trained model, seed003-model\.h5 \(Keras 2\.4\.0\), evaluated here: test accuracy 99\.40%, loss 0\.0203\./,
      );
      assert.match(
        md,
        /^\| epoch \| loss \(ours\) \| loss \(notebook\) \| accuracy \(ours\) \| accuracy \(notebook\) \| val_loss \(ours\) \| val_loss \(notebook\) \| val_accuracy \(ours\) \| val_accuracy \(notebook\) \|$/m,
      );
      assert.match(md, /^\| 13 \| — \| 0\.0208 \| — \| 0\.9937 \| — \| 0\.0203 \| — \| 0\.9940 \|$/m);
      assert.match(md, /As the notebook did|test set as validation data/);
      const html = fs.readFileSync(w.html, 'utf8');
      assert.match(html, /<details open class="per-epoch">/);
      const curves = Buffer.from([...html.matchAll(/src="data:image\/svg\+xml;base64,([^"]+)"/g)][0][1], 'base64').toString('utf8');
      for (const label of ['validation', 'the notebook', 'ours']) assert.ok(curves.includes(label), label);
      // missing file: said, not silently skipped
      const e2 = entryFromRuns(getPreset('seed003-bn'), [run], d, { epochsScale: 1 });
      await addNotebookModels([e2], d, root);
      assert.match(
        markdown([e2], meta),
        /The notebook's own trained model, seed003-model\.h5: not found in .* \(--notebook-models DIR\)\./,
      );
    },
  );
});
