// The report's figures: Vega-Lite specs compiled to Vega and rendered to SVG on the server by Vega's
// headless View (renderer 'none' + toSVG needs no canvas), and SVG → PNG by sharp. Vega and
// Vega-Lite ship as ES modules only, so they are loaded with a real import(), not require().
import { pathToFileURL } from 'node:url';

// tsc (module commonjs) rewrites import() into require(); Function keeps the native dynamic import
const nativeImport = new Function('url', 'return import(url)') as (url: string) => Promise<any>;

let vegaLibs: Promise<{ vega: any; vl: any }> | undefined;
function libs(): Promise<{ vega: any; vl: any }> {
  // resolved from this file, so the report works whatever the current directory is
  const load = (name: string) => nativeImport(pathToFileURL(require.resolve(name)).href);
  vegaLibs ??= Promise.all([load('vega'), load('vega-lite')]).then(([vega, vl]) => ({ vega, vl }));
  return vegaLibs;
}

/** Renders a Vega-Lite spec to a standalone SVG document. */
export async function renderSvg(spec: Record<string, unknown>): Promise<string> {
  const { vega, vl } = await libs();
  const quiet = {
    level() {
      return quiet;
    },
    info() {
      return quiet;
    },
    debug() {
      return quiet;
    },
    warn() {
      return quiet;
    },
    error(...e: unknown[]) {
      throw new Error(e.map(String).join(' '));
    },
  };
  const compiled = vl.compile({ $schema: 'https://vega.github.io/schema/vega-lite/v6.json', ...spec }, { logger: quiet }).spec;
  // warnings would land on the user's terminal in the middle of training output
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', logLevel: vega.Error });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

let sharpLib: any;
/** Rasterises an SVG at `density` DPI (96 = 1:1; 192 gives a crisp 2x PNG). */
export async function svgToPng(svg: string, density = 192): Promise<Buffer> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- sharp loads only when a figure is rasterised
  sharpLib ??= require('sharp');
  return sharpLib(Buffer.from(svg), { density }).png().toBuffer();
}

/** A grayscale image in [0, 1] as a PNG, upscaled by `scale` with nearest-neighbour so pixels stay square. */
export async function grayPng(pixels: ArrayLike<number>, h: number, w: number, scale = 2): Promise<Buffer> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- sharp loads only when a figure is rasterised
  sharpLib ??= require('sharp');
  const raw = Buffer.alloc(h * w);
  for (let i = 0; i < raw.length; i++) raw[i] = 255 - Math.round(Math.min(1, Math.max(0, pixels[i])) * 255);
  return sharpLib(raw, { raw: { width: w, height: h, channels: 1 } })
    .resize(w * scale, h * scale, { kernel: 'nearest' })
    .png()
    .toBuffer();
}

const FONT = { font: 'DejaVu Sans, Liberation Sans, Arial, sans-serif' };
const CONFIG = {
  config: {
    ...FONT,
    axis: { labelFontSize: 11, titleFontSize: 12 },
    legend: { labelFontSize: 11, titleFontSize: 12 },
    title: { fontSize: 14 },
  },
};

/** Which curve a history key belongs to: split and metric (Keras' names: loss, val_loss, ...). */
function splitOf(key: string): { split: string; metric: string } | null {
  const m = /^(val_|test_)?(loss|accuracy)$/.exec(key);
  if (!m) return null;
  const split = m[1] === 'val_' ? 'validation' : m[1] === 'test_' ? 'test (watch only)' : 'training';
  return { split, metric: m[2] };
}

/**
 * Learning curves: loss and accuracy per epoch for every split in the history, plus the learning rate when
 * logged. `reference` — a seed notebook's own printed run — is drawn dashed on the same axes, colour by split.
 */
export function learningCurvesSpec(
  history: Record<string, number[]>,
  title: string,
  reference?: Record<string, number[]>,
): Record<string, unknown> {
  const rows: { epoch: number; split: string; metric: string; value: number; run: string }[] = [];
  const add = (h: Record<string, number[]>, run: string) => {
    for (const [key, values] of Object.entries(h)) {
      const s = splitOf(key);
      if (s) values.forEach((value, i) => rows.push({ epoch: i + 1, ...s, value, run }));
    }
  };
  add(history, 'ours');
  if (reference) add(reference, 'the notebook');
  const domain = ['training', 'validation', 'test (watch only)'].filter((s) => rows.some((r) => r.split === s));
  const palette: Record<string, string> = { training: '#1f77b4', validation: '#ff7f0e', 'test (watch only)': '#2ca02c' };
  const color = {
    field: 'split',
    type: 'nominal',
    title: null,
    scale: { domain, range: domain.map((s) => palette[s]) },
    legend: { orient: 'bottom' },
  };
  const runs = reference ? ['ours', 'the notebook'] : ['ours'];
  const dash = {
    field: 'run',
    type: 'nominal',
    title: null,
    scale: {
      domain: runs,
      range: [
        [1, 0],
        [5, 3],
      ],
    },
    legend: null,
  }; // the title says which run is dashed (vega draws dash legends blank here)
  const epochs = Math.max(1, ...[history, reference ?? {}].flatMap((h) => Object.values(h).map((v) => v.length)));
  const x = {
    field: 'epoch',
    type: 'quantitative',
    title: 'epoch',
    scale: { domain: [1, Math.max(2, epochs)] },
    axis: { tickMinStep: 1, format: 'd' },
  };
  const panel = (metric: string, yTitle: string, scaleType: string) => ({
    width: 300,
    height: 200,
    title: yTitle,
    transform: [{ filter: { field: 'metric', equal: metric } }],
    mark: { type: 'line', point: { size: 25 }, strokeWidth: 2 },
    encoding: {
      x,
      y: { field: 'value', type: 'quantitative', title: null, scale: scaleType === 'log' ? { type: 'log' } : { zero: false } },
      color,
      strokeDash: dash,
      detail: { field: 'run' },
      tooltip: [{ field: 'run' }, { field: 'split' }, { field: 'epoch' }, { field: 'value', format: '.4f' }],
    },
  });
  const panels: Record<string, unknown>[] = [panel('loss', 'loss', 'log'), panel('accuracy', 'accuracy', 'linear')];
  if (history.lr?.length) {
    panels.push({
      width: 200,
      height: 200,
      title: 'learning rate (epoch end)',
      data: { values: history.lr.map((lr, i) => ({ epoch: i + 1, lr })) },
      mark: { type: 'line', point: { size: 20 }, color: '#7f7f7f' },
      encoding: { x, y: { field: 'lr', type: 'quantitative', title: null, scale: { type: 'log' }, axis: { format: '.0e' } } },
    });
  }
  return {
    ...CONFIG,
    title: { text: title, anchor: 'start', offset: 16 },
    data: { values: rows },
    hconcat: panels,
    resolve: { scale: { color: 'shared', strokeDash: 'shared' } },
  };
}

/** Confusion matrix heat map, true label down, predicted across; a symlog colour scale keeps the off-diagonal errors visible next to ~1,000 hits. */
export function confusionSpec(cm: number[][], title: string): Record<string, unknown> {
  const rows = cm.flatMap((row, t) => row.map((count, p) => ({ true: String(t), predicted: String(p), count, diagonal: t === p })));
  const labels = cm.map((_r, i) => String(i));
  const max = Math.max(1, ...cm.flat());
  return {
    ...CONFIG,
    title,
    width: 340,
    height: 340,
    data: { values: rows },
    encoding: {
      x: { field: 'predicted', type: 'ordinal', sort: labels, axis: { orient: 'top', labelAngle: 0 }, title: 'predicted' },
      y: { field: 'true', type: 'ordinal', sort: labels, title: 'true label' },
    },
    layer: [
      {
        mark: 'rect',
        encoding: {
          color: {
            condition: { test: 'datum.count === 0', value: 'white' },
            field: 'count',
            type: 'quantitative',
            scale: { type: 'symlog', scheme: 'blues', domain: [0, max] },
            legend: { title: 'count' },
          },
          tooltip: [{ field: 'true' }, { field: 'predicted' }, { field: 'count' }],
        },
      },
      {
        mark: { type: 'text', fontSize: 10 },
        encoding: {
          text: { condition: { test: 'datum.count > 0', field: 'count', type: 'quantitative' }, value: '' },
          color: { condition: { test: `datum.count > ${Math.sqrt(max)}`, value: 'white' }, value: '#222' },
        },
      },
    ],
  };
}

export interface Misclassified {
  index: number;
  label: number;
  predicted: number;
  confidence: number;
  pixels: ArrayLike<number>;
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/**
 * A grid of misclassified test digits with true and predicted labels and the model's confidence.
 * Plain SVG with one embedded PNG per digit: not a chart, and 784 rectangles per digit would make
 * a page heavier than the pictures.
 */
export async function misclassifiedSvg(items: Misclassified[], h: number, w: number, title: string, columns = 12): Promise<string> {
  const cell = 2 * w + 14,
    cellH = 2 * h + 30,
    top = 30;
  const cols = Math.max(1, Math.min(columns, items.length));
  const rows = Math.ceil(items.length / cols);
  const width = Math.max(cols * cell + 10, 360),
    height = top + Math.max(1, rows) * cellH + 6;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${FONT.font}">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="5" y="18" font-size="14" font-weight="bold">${esc(title)}</text>`,
  ];
  if (items.length === 0) parts.push(`<text x="5" y="${top + 20}" font-size="12">no misclassified digits</text>`);
  for (let i = 0; i < items.length; i++) {
    const it = items[i];
    const x = 5 + (i % cols) * cell,
      y = top + Math.floor(i / cols) * cellH;
    const png = (await grayPng(it.pixels, h, w, 2)).toString('base64');
    parts.push(
      `<g transform="translate(${x},${y})"><title>test #${it.index}: true ${it.label}, predicted ${it.predicted} (${(it.confidence * 100).toFixed(1)}%)</title>`,
      `<rect x="0" y="0" width="${2 * w + 2}" height="${2 * h + 2}" fill="none" stroke="#ccc"/>`,
      `<image x="1" y="1" width="${2 * w}" height="${2 * h}" style="image-rendering:pixelated" href="data:image/png;base64,${png}" xlink:href="data:image/png;base64,${png}"/>`,
      `<text x="0" y="${2 * h + 14}" font-size="11"><tspan fill="#2a7a2a">${it.label}</tspan><tspan fill="#666">→</tspan><tspan fill="#c0392b" font-weight="bold">${it.predicted}</tspan></text>`,
      `<text x="${2 * w + 2}" y="${2 * h + 14}" font-size="9" fill="#666" text-anchor="end">${Math.round(it.confidence * 100)}%</text>`,
      `<text x="0" y="${2 * h + 25}" font-size="8" fill="#999">#${it.index}</text></g>`,
    );
  }
  parts.push('</svg>');
  return parts.join('\n');
}
