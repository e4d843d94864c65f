// model.summary() of the six presets: the parameter counts and output shapes the seed documents
// give, and Keras' table layout reproduced character for character where a document prints it.
process.env.DIGITS_BACKEND = 'reference';

import { describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { PRESETS, REPRODUCED, getPreset } from '../src/zoo/presets';

/** The seed documents live next to the project: /work/shared/seeds (dist/test is /work/main/dist/test). */
const SEEDS = path.resolve(__dirname, '../../../shared/seeds');

interface Expected {
  total: string;
  trainable: string;
  nonTrainable: string;
  /** Every layer, in order: [name (ClassName), output shape, params]. */
  layers: [string, string, number][];
}

const EXPECTED: Record<string, Expected> = {
  'seed000-kaggle': {
    total: '567,646',
    trainable: '567,646',
    nonTrainable: '0',
    layers: [
      ['conv2d (Conv2D)', '(None, 28, 28, 32)', 832],
      ['conv2d_1 (Conv2D)', '(None, 28, 28, 32)', 25632],
      ['max_pooling2d (MaxPooling2D)', '(None, 14, 14, 32)', 0],
      ['dropout (Dropout)', '(None, 14, 14, 32)', 0],
      ['conv2d_2 (Conv2D)', '(None, 14, 14, 64)', 51264],
      ['conv2d_3 (Conv2D)', '(None, 14, 14, 64)', 102464],
      ['max_pooling2d_1 (MaxPooling2D)', '(None, 7, 7, 64)', 0],
      ['dropout_1 (Dropout)', '(None, 7, 7, 64)', 0],
      ['flatten (Flatten)', '(None, 3136)', 0],
      ['dense (Dense)', '(None, 120)', 376440],
      ['dense_1 (Dense)', '(None, 84)', 10164],
      ['dense_2 (Dense)', '(None, 10)', 850],
    ],
  },
  'seed001-small': {
    total: '17,802',
    trainable: '17,802',
    nonTrainable: '0',
    layers: [
      ['conv2d (Conv2D)', '(None, 25, 25, 32)', 544],
      ['max_pooling2d (MaxPooling2D)', '(None, 12, 12, 32)', 0],
      ['conv2d_1 (Conv2D)', '(None, 10, 10, 32)', 9248],
      ['max_pooling2d_1 (MaxPooling2D)', '(None, 5, 5, 32)', 0],
      ['dropout (Dropout)', '(None, 5, 5, 32)', 0],
      ['flatten (Flatten)', '(None, 800)', 0],
      ['dense (Dense)', '(None, 10)', 8010],
    ],
  },
  'seed002-mlp': {
    total: '407,050',
    trainable: '407,050',
    nonTrainable: '0',
    layers: [
      ['flatten (Flatten)', '(None, 784)', 0],
      ['dense (Dense)', '(None, 512)', 401920],
      ['dense_1 (Dense)', '(None, 10)', 5130],
    ],
  },
  'seed002-cnn': {
    total: '93,322',
    trainable: '93,322',
    nonTrainable: '0',
    layers: [
      ['conv2d (Conv2D)', '(None, 26, 26, 32)', 320],
      ['max_pooling2d (MaxPooling2D)', '(None, 13, 13, 32)', 0],
      ['conv2d_1 (Conv2D)', '(None, 11, 11, 64)', 18496],
      ['max_pooling2d_1 (MaxPooling2D)', '(None, 5, 5, 64)', 0],
      ['conv2d_2 (Conv2D)', '(None, 3, 3, 64)', 36928],
      ['flatten (Flatten)', '(None, 576)', 0],
      ['dense (Dense)', '(None, 64)', 36928],
      ['dense_1 (Dense)', '(None, 10)', 650],
    ],
  },
  'seed003-bn': {
    total: '336,490',
    trainable: '335,594',
    nonTrainable: '896',
    layers: [
      ['conv2d (Conv2D)', '(None, 14, 14, 16)', 416],
      ['conv2d_1 (Conv2D)', '(None, 14, 14, 32)', 4640],
      ['batch_normalization (BatchNormalization)', '(None, 14, 14, 32)', 128],
      ['conv2d_2 (Conv2D)', '(None, 7, 7, 32)', 9248],
      ['batch_normalization_1 (BatchNormalization)', '(None, 7, 7, 32)', 128],
      ['dropout (Dropout)', '(None, 7, 7, 32)', 0],
      ['conv2d_3 (Conv2D)', '(None, 7, 7, 64)', 18496],
      ['batch_normalization_2 (BatchNormalization)', '(None, 7, 7, 64)', 256],
      ['conv2d_4 (Conv2D)', '(None, 4, 4, 64)', 36928],
      ['batch_normalization_3 (BatchNormalization)', '(None, 4, 4, 64)', 256],
      ['dropout_1 (Dropout)', '(None, 4, 4, 64)', 0],
      ['flatten (Flatten)', '(None, 1024)', 0],
      ['dense (Dense)', '(None, 256)', 262400],
      ['batch_normalization_4 (BatchNormalization)', '(None, 256)', 1024],
      ['dropout_2 (Dropout)', '(None, 256)', 0],
      ['dense_1 (Dense)', '(None, 10)', 2570],
    ],
  },
  'seed004-keras': {
    total: '1,199,882',
    trainable: '1,199,882',
    nonTrainable: '0',
    layers: [
      ['conv2d (Conv2D)', '(None, 26, 26, 32)', 320],
      ['conv2d_1 (Conv2D)', '(None, 24, 24, 64)', 18496],
      ['max_pooling2d (MaxPooling2D)', '(None, 12, 12, 64)', 0],
      ['dropout (Dropout)', '(None, 12, 12, 64)', 0],
      ['flatten (Flatten)', '(None, 9216)', 0],
      ['dropout_1 (Dropout)', '(None, 9216)', 0],
      ['dense (Dense)', '(None, 128)', 1179776],
      ['dense_1 (Dense)', '(None, 10)', 1290],
    ],
  },
};

const RULE = '_'.repeat(65);
const DOUBLE = '='.repeat(65);

/** Keras' row: fields cut to end one short of columns 29 / 55 / 65, padded with spaces. */
function row(name: string, shape: string, params: string): string {
  return name.slice(0, 28).padEnd(29) + shape.slice(0, 25).padEnd(26) + params.slice(0, 9).padEnd(10);
}

describe('summary: the six presets', () => {
  test('the expectations cover exactly the presets the zoo has', () => {
    // digits-best and its ensemble partner are ours, not a seed document's: no document table to match
    assert.deepEqual(
      PRESETS.filter((p) => p.document !== '(ours)' && !p.tunes && !p.variantOf)
        .map((p) => p.name)
        .sort(),
      Object.keys(EXPECTED).sort(),
    );
  });

  for (const [name, e] of Object.entries(EXPECTED)) {
    test(`${name}: Keras table, output shapes and parameter counts`, () => {
      const model = getPreset(name).build();
      const lines = model.summary().split('\n');
      // header
      assert.deepEqual(lines.slice(0, 4), ['Model: "sequential"', RULE, row('Layer (type)', 'Output Shape', 'Param #'), DOUBLE]);
      // one row and one rule per layer, '=' after the last
      const body = lines.slice(4, 4 + 2 * e.layers.length);
      e.layers.forEach(([layer, shape, params], i) => {
        assert.equal(body[2 * i], row(`${layer}`, shape, String(params)), `row ${i} of ${name}`);
        assert.equal(body[2 * i + 1], i === e.layers.length - 1 ? DOUBLE : RULE, `rule after row ${i} of ${name}`);
      });
      assert.deepEqual(lines.slice(4 + 2 * e.layers.length), [
        `Total params: ${e.total}`,
        `Trainable params: ${e.trainable}`,
        `Non-trainable params: ${e.nonTrainable}`,
        RULE,
      ]);
      for (const l of lines) assert.ok(l.length <= 65, `line longer than Keras' 65 columns: '${l}'`);
      // the numbers behind the table
      assert.equal(model.countParams().toLocaleString('en-US'), e.total);
      assert.deepEqual(
        model.layers.map((l) => `(None, ${l.outputShape.join(', ')})`),
        e.layers.map((r) => r[1]),
      );
      assert.deepEqual(
        model.layers.map((l) => l.countParams()),
        e.layers.map((r) => r[2]),
      );
    });
  }
});

/** The lines between <pre> and </pre> of a seed document, or null when the document is not here. */
function preBlock(file: string): string[] | null {
  if (!fs.existsSync(file)) return null;
  const text = fs.readFileSync(file, 'utf8').replace(/\r\n/g, '\n');
  const m = /<pre>([\s\S]*?)<\/pre>/.exec(text);
  assert.ok(m, `${file}: no <pre> block`);
  return m[1].split('\n');
}

/** The lines of the first ``` fenced block that contains a Keras summary. */
function fencedSummary(file: string): string[] | null {
  if (!fs.existsSync(file)) return null;
  const text = fs.readFileSync(file, 'utf8').replace(/\r\n/g, '\n');
  const m = /```\n(_{65}\nLayer \(type\)[\s\S]*?)\n```/.exec(text);
  assert.ok(m, `${file}: no fenced Keras summary`);
  return m[1].split('\n');
}

describe('summary: reproduces the seed documents', () => {
  const doc3 = path.join(SEEDS, getPreset('seed003-bn').document);
  test('seed003-bn: line for line the table between <pre> and </pre>', { skip: !fs.existsSync(doc3) && `${doc3} not present` }, () => {
    const doc = preBlock(doc3)!;
    const ours = getPreset('seed003-bn').build().summary().split('\n');
    // same layer names (conv2d, conv2d_1, batch_normalization, ...), same truncation
    // ("batch_normalization (BatchNo"), same trailing spaces; the document's </pre> sits right
    // after "Non-trainable params: 896", so it lacks the final rule Keras prints
    assert.equal(ours.length, doc.length + 1);
    ours.slice(0, doc.length).forEach((l, i) => assert.equal(l, doc[i], `line ${i + 1}`));
    assert.equal(ours[ours.length - 1], RULE);
  });

  const doc0 = path.join(SEEDS, getPreset('seed000-kaggle').document);
  test(
    "seed000-kaggle: shapes, counts and totals of the document's table (its Keras numbered layers from 1)",
    { skip: !fs.existsSync(doc0) && `${doc0} not present` },
    () => {
      const doc = fencedSummary(doc0)!;
      const ours = getPreset('seed000-kaggle').build().summary().split('\n').slice(1); // the document has no Model: line
      assert.equal(ours.length, doc.length);
      ours.forEach((l, i) => {
        // layer rows: the document says conv2d_1 where tf.keras 2.x says conv2d, so compare from column 29
        const isRow = /^\w+ \(/.test(doc[i]) && !doc[i].startsWith('Layer (type)');
        assert.equal(isRow ? l.slice(29) : l, isRow ? doc[i].slice(29) : doc[i], `line ${i + 1}`);
      });
    },
  );
});

describe('summary: the -tuned twins', () => {
  const twins = PRESETS.filter((p) => p.tunes);
  test('every seed that misses its document with its own recipe has one (seed002-mlp, seed002-cnn, seed003-bn)', () => {
    assert.deepEqual(
      twins.map((p) => p.tunes),
      ['seed002-mlp', 'seed002-cnn', 'seed003-bn'],
    );
  });
  for (const t of twins) {
    test(`${t.name}: the seed's layers, epochs, optimizer and batch; only the learning-rate schedule differs`, () => {
      const seed = getPreset(t.tunes!);
      assert.equal(t.build(undefined, undefined, 5).summary(), seed.build(undefined, undefined, 5).summary());
      const { learningRate: _a, oneCycle, ...rest } = t.recipe;
      const { learningRate: _b, oneCycle: none, ...seedRest } = seed.recipe;
      assert.deepEqual(rest, seedRest);
      assert.equal(none, undefined);
      assert.ok(oneCycle && oneCycle.pctStart > 0);
      assert.equal(t.reportedAccuracy, seed.reportedAccuracy);
    });
  }
});

describe('summary: our presets', () => {
  /** [output shape after each layer, params]: the arithmetic in the comments, not the code under test. */
  const OURS: Record<string, { shapes: string[]; params: number[]; nonTrainable: number }> = {
    // 5x5x1x32+32, BN 4x32; 3x3x32x64+64, BN; 3x3x64x64+64, BN; 3x3x64x128+128, BN; three 2x2 pools: 28, 14, 7, 3; 1152x10+10
    'digits-best': {
      shapes: [
        '28,28,32',
        '28,28,32',
        '14,14,32',
        '14,14,64',
        '14,14,64',
        '14,14,64',
        '14,14,64',
        '7,7,64',
        '7,7,128',
        '7,7,128',
        '3,3,128',
        '1152',
        '1152',
        '10',
      ],
      params: [832, 128, 0, 18496, 256, 36928, 256, 0, 73856, 512, 0, 0, 0, 11530],
      nonTrainable: 2 * (32 + 64 + 64 + 128),
    },
    // 5x5x1x32+32; 3x3x32x32+32 at stride 2 ('same': ceil(28/2) = 14); 3x3x32x64+64; 3x3x64x64+64 at stride 2 (7); 4x4x64x128+128 'valid' (7-4+1 = 4); 2048x10+10
    'digits-best-strided': {
      shapes: [
        '28,28,32',
        '28,28,32',
        '14,14,32',
        '14,14,32',
        '14,14,64',
        '14,14,64',
        '7,7,64',
        '7,7,64',
        '4,4,128',
        '4,4,128',
        '2048',
        '2048',
        '10',
      ],
      params: [832, 128, 9248, 128, 18496, 256, 36928, 256, 131200, 512, 0, 0, 20490],
      nonTrainable: 2 * (32 + 32 + 64 + 64 + 128),
    },
  };
  for (const [name, e] of Object.entries(OURS)) {
    test(`${name}: output shapes and parameter counts`, () => {
      const m = getPreset(name).build().build();
      assert.deepEqual(
        m.layers.map((l) => l.outputShape.join(',')),
        e.shapes,
      );
      assert.deepEqual(
        m.layers.map((l) => l.countParams()),
        e.params,
      );
      const total = e.params.reduce((a, b) => a + b, 0);
      assert.equal(m.countParams(), total);
      assert.match(
        m.summary(),
        new RegExp(
          `Total params: ${total.toLocaleString('en-US')}\nTrainable params: ${(total - e.nonTrainable).toLocaleString('en-US')}\nNon-trainable params: ${e.nonTrainable}`,
        ),
      );
    });
  }
  test("an ensemble partner shares its preset's recipe, is ours, and digits reproduce leaves it out by default", () => {
    const partners = PRESETS.filter((p) => p.memberOf);
    assert.deepEqual(
      partners.map((p) => [p.name, p.memberOf]),
      [['digits-best-strided', 'digits-best']],
    );
    for (const p of partners) {
      assert.deepEqual(p.recipe, getPreset(p.memberOf!).recipe);
      assert.equal(p.document, '(ours)');
    }
    assert.ok(REPRODUCED.some((p) => p.name === 'digits-best') && !REPRODUCED.some((p) => p.name === 'digits-best-strided'));
  });
});
