// The lab's charts: the report's own Vega-Lite specs (src/report/charts.ts: learning curves, confusion
// matrix) and a live view of the running epoch, drawn by Vega as SVG in the page. A chunk of its own,
// loaded when the first chart is drawn (vega + vega-lite are most of a megabyte).
import type * as Vega from 'vega' with { 'resolution-mode': 'import' };
import { confusionSpec, learningCurvesSpec } from '../src/report/charts';

// both ship as ES modules only; this file type-checks as CommonJS, so they come in through import()
let libs: Promise<
  [typeof import('vega', { with: { 'resolution-mode': 'import' } }), typeof import('vega-lite', { with: { 'resolution-mode': 'import' } })]
> | null = null;
const load = () => (libs ??= Promise.all([import('vega'), import('vega-lite')]));

export { confusionSpec, learningCurvesSpec };

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

/** Draws a Vega-Lite spec into `el` (replacing what was there) as SVG; resolves once it is on the page. */
export async function draw(el: HTMLElement, spec: Record<string, unknown>): Promise<Vega.View> {
  const [vega, vl] = await load();
  const compiled = vl.compile({ $schema: SCHEMA, ...spec } as Parameters<typeof vl.compile>[0]).spec;
  el.replaceChildren();
  delete el.dataset.drawn;
  const view = new vega.View(vega.parse(compiled), { renderer: 'svg', container: el, hover: true, logLevel: vega.Error });
  await view.runAsync();
  el.dataset.drawn = 'true';
  return view;
}

const FONT = 'DejaVu Sans, Liberation Sans, Arial, sans-serif';

/** Loss and accuracy as the epoch runs: Keras' running means per batch, the test set's at each epoch end. */
function liveSpec(title: string): Record<string, unknown> {
  const palette = { domain: ['training (running mean)', 'test'], range: ['#1f77b4', '#2ca02c'] };
  const panel = (metric: string, scale: Record<string, unknown>) => ({
    width: 300,
    height: 180,
    title: metric,
    transform: [{ filter: { field: 'metric', equal: metric } }],
    layer: [
      {
        transform: [{ filter: "datum.split !== 'test'" }],
        mark: { type: 'line', strokeWidth: 2, clip: true },
        encoding: {
          x: { field: 'at', type: 'quantitative', title: 'epoch', axis: { tickMinStep: 0.5 } },
          y: { field: 'value', type: 'quantitative', title: null, scale },
          color: { field: 'split', type: 'nominal', title: null, scale: palette, legend: null },
          detail: { field: 'run' },
        },
      },
      {
        transform: [{ filter: "datum.split === 'test'" }],
        mark: { type: 'line', point: { size: 50, filled: true }, strokeWidth: 2 },
        encoding: {
          x: { field: 'at', type: 'quantitative' },
          y: { field: 'value', type: 'quantitative', scale },
          color: { field: 'split', type: 'nominal', title: null, scale: palette },
          tooltip: [
            { field: 'at', title: 'epoch' },
            { field: 'value', format: '.4f' },
          ],
        },
      },
    ],
  });
  return {
    config: { font: FONT, axis: { labelFontSize: 11, titleFontSize: 12 }, legend: { labelFontSize: 11 }, title: { fontSize: 13 } },
    title: {
      text: title,
      subtitle: "blue: the epoch's running mean, batch by batch (Keras' progress numbers) · green: the test set at each epoch end",
      anchor: 'start',
      subtitleColor: '#666',
      subtitleFontSize: 11,
      offset: 10,
    },
    data: { name: 'live' },
    hconcat: [panel('loss', { zero: false }), panel('accuracy', { zero: false })],
    resolve: { scale: { color: 'shared' } },
  };
}

export interface LivePoint {
  at: number;
  split: 'training (running mean)' | 'test';
  metric: 'loss' | 'accuracy';
  value: number;
  run: number;
}

/** The live chart: rows are inserted as training reports them, without recompiling the spec. */
export class LiveCurves {
  private view: Vega.View | null = null;
  private pending: LivePoint[] = [];
  private all: LivePoint[] = [];
  private drawing: Promise<void> | null = null;
  constructor(private readonly el: HTMLElement) {}

  async reset(title: string): Promise<void> {
    this.view?.finalize();
    this.all = [];
    this.pending = [];
    this.view = await draw(this.el, liveSpec(title));
  }

  get points(): number {
    return this.all.length;
  }

  add(rows: LivePoint[]): void {
    this.pending.push(...rows);
    this.all.push(...rows);
    // one redraw at a time; rows arriving meanwhile go in the next
    // one redraw at a time, at most twice a second (the page answers drawing meanwhile); rows arriving
    // in between go in the next
    this.drawing ??= (async () => {
      const [vega] = await load();
      while (this.pending.length > 0 && this.view) {
        const batch = this.pending.splice(0);
        await this.view.change('live', vega.changeset().insert(batch)).runAsync();
        await new Promise((r) => setTimeout(r, 500));
      }
      this.drawing = null;
    })();
  }

  async settled(): Promise<void> {
    while (this.drawing) await this.drawing;
  }
}
