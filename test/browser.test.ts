// The page in a real browser: Debian's chromium (headless, via playwright-core) draws digits on the
// canvas with the mouse and with pen events; the page must show the right digit, computed in the
// browser, and keep working after the server is gone. Screenshots land in dist/test-artifacts/.
import { after, before, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { BrowserContext, Page } from 'playwright-core';
import { buildServer } from '../src/serve/server';
import { SHARED_MNIST } from './helpers/paths';
import { trainedModelDir } from './helpers/trained';
import { tempDir } from './helpers/datafixtures';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = path.resolve(__dirname, '../test-artifacts');
const skip = fs.existsSync(CHROMIUM) ? false : `${CHROMIUM} not found (apt-get install -y chromium; scripts/setup.sh does)`;

type Stroke = [number, number][]; // points in the pad's unit square
const SHAPES: Record<string, Stroke[]> = {
  1: [
    [
      [0.5, 0.15],
      [0.5, 0.85],
    ],
  ],
  7: [
    [
      [0.25, 0.2],
      [0.75, 0.2],
      [0.45, 0.85],
    ],
  ],
  0: [
    Array.from({ length: 25 }, (_v, i): [number, number] => [
      0.5 + 0.22 * Math.sin((i / 24) * 2 * Math.PI),
      0.5 - 0.33 * Math.cos((i / 24) * 2 * Math.PI),
    ]),
  ],
  4: [
    [
      [0.55, 0.15],
      [0.25, 0.6],
      [0.75, 0.6],
    ],
    [
      [0.6, 0.35],
      [0.6, 0.85],
    ],
  ],
};

let app: FastifyInstance;
let context: BrowserContext;
let page: Page;

async function drawWithMouse(strokes: Stroke[]): Promise<void> {
  const b = (await page.locator('#pad').boundingBox())!;
  for (const s of strokes) {
    await page.mouse.move(b.x + s[0][0] * b.width, b.y + s[0][1] * b.height);
    await page.mouse.down();
    for (const [x, y] of s.slice(1)) await page.mouse.move(b.x + x * b.width, b.y + y * b.height, { steps: 8 });
    await page.mouse.up();
  }
}

/** Pen input as a stylus delivers it: pointer events with pointerType 'pen'. */
async function drawWithPen(strokes: Stroke[]): Promise<void> {
  await page.evaluate((ss) => {
    const pad = document.getElementById('pad')!;
    const r = pad.getBoundingClientRect();
    const fire = (type: string, [x, y]: [number, number]) =>
      pad.dispatchEvent(
        new PointerEvent(type, {
          pointerId: 7,
          pointerType: 'pen',
          pressure: 0.6,
          bubbles: true,
          clientX: r.left + x * r.width,
          clientY: r.top + y * r.height,
        }),
      );
    for (const s of ss) {
      fire('pointerdown', s[0]);
      for (let i = 1; i < s.length; i++)
        for (let k = 1; k <= 8; k++) {
          const t = k / 8;
          fire('pointermove', [s[i - 1][0] + t * (s[i][0] - s[i - 1][0]), s[i - 1][1] + t * (s[i][1] - s[i - 1][1])]);
        }
      fire('pointerup', s[s.length - 1]);
    }
  }, strokes);
}

async function shown(): Promise<string> {
  await page.waitForTimeout(250); // past the 80 ms throttle
  return (await page.getAttribute('#prediction', 'data-digit')) ?? '';
}

before(async () => {
  if (skip) return;
  app = await buildServer({ modelDir: trainedModelDir(), dataDir: SHARED_MNIST });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { chromium } = await import('playwright-core');
  context = await chromium.launchPersistentContext(tempDir('digits-chromium-'), {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 800, height: 680 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  page = await context.newPage();
  await page.goto(`http://127.0.0.1:${(app.server.address() as { port: number }).port}/`);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 20_000 });
  fs.mkdirSync(ARTIFACTS, { recursive: true });
});
after(async () => {
  await context?.close();
  await app?.close();
});

test('drawing digits with the mouse shows the right prediction, bars and the 28x28', { skip }, async (t) => {
  for (const [digit, strokes] of Object.entries(SHAPES)) {
    await page.click('#clear');
    assert.equal(await shown(), '', 'clear empties the prediction');
    await drawWithMouse(strokes);
    assert.equal(await shown(), digit, `drew a ${digit}`);
    const pcts = await page.locator('.bars span[id^=p]').allTextContents();
    const sum = pcts.reduce((s, p) => s + parseFloat(p), 0);
    assert.ok(pcts.length === 10 && Math.abs(sum - 100) < 1, `bars: ${pcts.join(' ')}`);
  }
  const lit = await page.evaluate(() => {
    const d = (document.getElementById('seen') as HTMLCanvasElement).getContext('2d')!.getImageData(0, 0, 28, 28).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i] > 128) n++;
    return n;
  });
  assert.ok(lit > 20, `the preprocessed 28x28 shows the digit (${lit} bright pixels)`);
  const shot = path.join(ARTIFACTS, 'browser-draw.png');
  await page.screenshot({ path: shot });
  t.diagnostic(`screenshot: ${shot}`);
});

test('the strip of test digits shows predictions', { skip }, async () => {
  const captions = await page.locator('#samples figcaption').allTextContents();
  assert.equal(captions.length, 12);
  const right = await page.locator('#samples figcaption.ok').count();
  assert.ok(right >= 8, `${right}/12 test digits right (random digits, a ~95% model)`);
});

test('with the server gone, pen strokes are still recognised in the browser', { skip }, async (t) => {
  await app.close();
  await page.click('#clear');
  await drawWithPen(SHAPES[7]);
  assert.equal(await shown(), '7');
  const shot = path.join(ARTIFACTS, 'browser-offline-pen.png');
  await page.screenshot({ path: shot });
  t.diagnostic(`screenshot: ${shot}`);
});
