// Opens a report page (`digits reproduce` / `digits report`) in headless Chromium, checks that every
// figure was drawn, and writes a full-page screenshot — the issue's "opens in Chromium and shows every
// figure" for a real report rather than the test suite's small one.
//   node dist/bench/report-shot.js R/report.html R/screenshot.png
import * as fs from 'node:fs';
import * as path from 'node:path';

const [page, shot] = process.argv.slice(2);
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
if (!page || !shot) {
  console.error('usage: node dist/bench/report-shot.js REPORT.html OUT.png');
  process.exit(2);
}
if (!fs.existsSync(page)) {
  console.error(`report-shot: ${page}: no such file`);
  process.exit(2);
}

(async () => {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'],
  });
  try {
    const p = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await p.goto('file://' + path.resolve(page));
    await p.waitForLoadState('load');
    const imgs = await p.$$eval('img', (els) =>
      els.map((e) => {
        const i = e as HTMLImageElement;
        return { alt: i.alt, ok: i.complete && i.naturalWidth > 0 && i.getBoundingClientRect().width > 50 };
      }),
    );
    const bad = imgs.filter((i) => !i.ok);
    const rows = await p.$$eval('#summary tr', (r) => r.length - 1);
    fs.writeFileSync(shot, await p.screenshot({ fullPage: true }));
    console.log(`${page}: ${rows} presets in the table, ${imgs.length} figures, ${imgs.length - bad.length} drawn; screenshot ${shot}`);
    for (const b of bad) console.log(`  not drawn: ${b.alt}`);
    process.exitCode = bad.length || imgs.length === 0 ? 1 : 0;
  } finally {
    await browser.close();
  }
})().catch((e) => {
  console.error(`report-shot: ${e instanceof Error ? e.message : e}`);
  process.exitCode = 1;
});
