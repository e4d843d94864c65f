// The reproduction report: per model the summary, learning curves, confusion matrix, misclassified
// digits and test accuracy beside what the seed document reports; one table on top. Written as
// Markdown (figures as PNG files beside it, SVG linked) and as one self-contained HTML page (every
// figure inlined as a data URI, so the file can be mailed or opened from anywhere).
import * as fs from 'node:fs';
import { mkdirp } from '../fsutil';
import * as path from 'node:path';
import { confusionSpec, learningCurvesSpec, misclassifiedSvg, renderSvg, svgToPng, type Misclassified } from './charts';
import { confusionMatrix } from '../train/metrics';
import type { NotebookModel, ReferenceRun } from './reference';

export interface RunSummary {
  seed: number;
  /** Names the run where the seed alone does not (the members of a mixed ensemble). */
  label?: string;
  testAccuracy: number;
  testLoss: number;
  trainSeconds: number;
  samplesPerSecond: number;
  epochs: number;
}

export interface ReportEntry {
  /** Preset name, or the model directory's name. */
  name: string;
  description: string;
  /** Our own design (digits-best): there is no seed document to compare with. */
  ours?: boolean;
  /** Keras summary table. */
  summary: string;
  params: number;
  /** The recipe in one line. */
  recipe: string;
  reportedAccuracy: number | null;
  /** The accuracy this model must reach (issue 4's targets), or null. */
  target: number | null;
  /** Median over the runs, or for an ensemble its soft vote. */
  testAccuracy: number;
  /** The runs are the members of one soft vote, not repeats of one recipe. */
  ensemble?: boolean;
  /** What the saved runs say they were trained in (fp32, bf16), where they say it. */
  trainedPrecision?: string;
  testLoss: number;
  runs: RunSummary[];
  /** The run whose curves, confusion matrix and mistakes are shown: the median one. */
  shownSeed: number;
  epochs: number;
  /** 1 for the recipe's epochs; less for quick runs that are not the real recipe. */
  epochsScale: number;
  batchSize: number;
  /** Wall time of the shown run's training, and of all runs together. */
  trainSeconds: number;
  totalSeconds: number;
  samplesPerSecond: number;
  backend: string;
  history: Record<string, number[]>;
  confusion: number[][];
  misclassified: Misclassified[];
  misclassifiedTotal: number;
  imageShape: [number, number];
  notes: string[];
  /** The seed notebook's own run of this recipe (its printed history), and its saved model's score here. */
  reference?: { run: ReferenceRun; model?: NotebookModel };
}

export interface ReportMeta {
  title: string;
  generated: string;
  version: string;
  backend: string;
  machine: string;
  command?: string;
  seeds: number;
  /** Replaces the "median over N seeds" line when presets ran different numbers of seeds. */
  seedsNote?: string;
  epochsScale: number;
  /** What a -tuned row changes from its seed's row, when the report has one. */
  tunedNote?: string;
  /** Which presets ran in reduced precision; float32 everywhere unless said. */
  precision?: string;
}

/** Confusion matrix and the most confident mistakes, from test probabilities. */
export function analyse(
  probs: Float32Array,
  labels: ArrayLike<number>,
  images: Float32Array,
  classes: number,
  h: number,
  w: number,
  maxShown = 48,
): { confusion: number[][]; misclassified: Misclassified[]; misclassifiedTotal: number; accuracy: number } {
  const n = labels.length;
  const predicted = new Int32Array(n),
    confidence = new Float32Array(n);
  for (let r = 0; r < n; r++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (probs[r * classes + c] > probs[r * classes + best]) best = c;
    predicted[r] = best;
    confidence[r] = probs[r * classes + best];
  }
  const confusion = confusionMatrix(labels, predicted, classes);
  const wrong: number[] = [];
  for (let r = 0; r < n; r++) if (predicted[r] !== labels[r]) wrong.push(r);
  // the most confident mistakes teach the most: ambiguous or mislabelled digits, not near misses
  wrong.sort((a, b) => confidence[b] - confidence[a] || a - b);
  const size = h * w;
  const misclassified = wrong.slice(0, maxShown).map((r) => ({
    index: r,
    label: labels[r],
    predicted: predicted[r],
    confidence: confidence[r],
    pixels: Array.from(images.subarray(r * size, (r + 1) * size), (v) => Math.round(v * 1000) / 1000),
  }));
  return { confusion, misclassified, misclassifiedTotal: wrong.length, accuracy: (n - wrong.length) / n };
}

const pct = (v: number | null | undefined, digits = 2) => (v === null || v === undefined ? '—' : `${(v * 100).toFixed(digits)}%`);
const minutes = (s: number) => (s / 60).toFixed(1);
const slug = (s: string) => s.replace(/[^A-Za-z0-9._-]+/g, '-');
const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function documentSays(e: ReportEntry): string {
  if (e.reportedAccuracy !== null) return `the seed document reports ${pct(e.reportedAccuracy)}`;
  return e.ours ? 'our own design, no seed document to compare with' : 'the seed document reports no accuracy';
}

function verdict(e: ReportEntry): string {
  if (e.target === null) return '';
  return e.testAccuracy >= e.target ? '✓' : '✗';
}

interface Figures {
  curves: string | null;
  confusion: string;
  misclassified: string;
}

async function figures(e: ReportEntry): Promise<Figures> {
  const hasCurves = Object.values(e.history).some((v) => v.length > 0);
  const seedNote = e.ensemble
    ? ` (member 1, seed ${e.shownSeed})`
    : e.runs.length > 1
      ? ` (seed ${e.shownSeed}, the median of ${e.runs.length})`
      : '';
  return {
    curves: hasCurves
      ? await renderSvg(
          learningCurvesSpec(
            e.history,
            `${e.name}: learning curves${seedNote}${e.reference ? ', the notebook\u2019s run dashed' : ''}`,
            e.reference?.run.history,
          ),
        )
      : null,
    confusion: await renderSvg(confusionSpec(e.confusion, `${e.name}: confusion matrix (test set, ${pct(e.testAccuracy)})`)),
    misclassified: await misclassifiedSvg(
      e.misclassified,
      e.imageShape[0],
      e.imageShape[1],
      `${e.name}: ${e.misclassified.length < e.misclassifiedTotal ? `the ${e.misclassified.length} most confident of ` : ''}${e.misclassifiedTotal} misclassified test digits (true → predicted, confidence)`,
    ),
  };
}

export interface WrittenReport {
  markdown: string;
  html: string;
  json: string;
  figures: string[];
}

/** Writes report.md, report.html, results.json and figures/ (SVG + PNG) into `outDir`. */
export async function writeReport(entries: ReportEntry[], meta: ReportMeta, outDir: string): Promise<WrittenReport> {
  const figDir = path.join(outDir, 'figures');
  mkdirp(figDir);
  const written: string[] = [];
  const rendered: Figures[] = [];
  for (const e of entries) {
    const f = await figures(e);
    rendered.push(f);
    for (const [kind, svg] of Object.entries(f) as [string, string | null][]) {
      if (!svg) continue;
      const base = path.join(figDir, `${slug(e.name)}-${kind}`);
      fs.writeFileSync(`${base}.svg`, svg);
      fs.writeFileSync(`${base}.png`, await svgToPng(svg));
      written.push(`${base}.svg`, `${base}.png`);
    }
  }
  const md = path.join(outDir, 'report.md'),
    html = path.join(outDir, 'report.html'),
    json = path.join(outDir, 'results.json');
  fs.writeFileSync(md, markdown(entries, meta));
  fs.writeFileSync(html, htmlPage(entries, meta, rendered));
  fs.writeFileSync(
    json,
    JSON.stringify(
      {
        meta,
        entries: entries.map(({ misclassified, ...rest }) => ({
          ...rest,
          misclassified: misclassified.map(({ pixels: _pixels, ...m }) => m),
        })),
      },
      null,
      1,
    ),
  );
  return { markdown: md, html, json, figures: written };
}

/** A run's row label: its seed (or label), marked where its figures are the ones shown (an ensemble shows member 1's curves). */
function runLabel(e: ReportEntry, r: RunSummary, i: number): string {
  const shown = e.ensemble ? i === 0 : r.seed === e.shownSeed;
  return `${e.ensemble ? `${i + 1}: ` : ''}${r.label ?? r.seed}${shown ? ' (shown)' : ''}`;
}

function tableRows(entries: ReportEntry[]): string[][] {
  return entries.map((e) => [
    e.name,
    e.params.toLocaleString('en-US'),
    e.reportedAccuracy === null && e.ours ? '— (our design)' : pct(e.reportedAccuracy),
    `${pct(e.testAccuracy)}${e.ensemble ? ` (vote of ${e.runs.length})` : e.runs.length > 1 ? ` (median of ${e.runs.length})` : ''}`,
    e.target === null ? '—' : `≥ ${pct(e.target)} ${verdict(e)}`,
    String(e.epochs) + (e.epochsScale !== 1 ? ` (×${e.epochsScale})` : ''),
    minutes(e.totalSeconds),
    Math.round(e.samplesPerSecond).toLocaleString('en-US'),
  ]);
}
/** The per-epoch comparison with the notebook's run: its keys in Keras' order, ours beside theirs. */
function comparison(e: ReportEntry): { head: string[]; rows: string[][] } | null {
  const ref = e.reference?.run;
  if (!ref) return null;
  const keys = ['loss', 'accuracy', 'val_loss', 'val_accuracy'].filter((k) => ref.history[k]?.length);
  const n = Math.max(ref.history.loss?.length ?? 0, e.history.loss?.length ?? 0);
  const cell = (v: number | undefined) => (v === undefined ? '—' : v.toFixed(4));
  return {
    head: ['epoch', ...keys.flatMap((k) => [`${k} (ours)`, `${k} (notebook)`])],
    rows: Array.from({ length: n }, (_v, i) => [String(i + 1), ...keys.flatMap((k) => [cell(e.history[k]?.[i]), cell(ref.history[k][i])])]),
  };
}

/** One sentence on the notebook's run and, where found, its own saved model scored here. */
function referenceText(e: ReportEntry): string[] {
  const r = e.reference;
  if (!r) return [];
  const out = [
    `The notebook's own run (${r.run.source.repository}, ${r.run.source.file}: ${r.run.source.what}) reached ${pct(r.run.test.accuracy)} on the test set${r.run.test.note ? ` (${r.run.test.note})` : ''}; its per-epoch numbers are drawn dashed beside ours and tabulated below.`,
  ];
  const m = r.model;
  if (m && 'accuracy' in m)
    out.push(
      `The notebook's own trained model, ${path.basename(m.file)} (Keras ${m.kerasVersion}), evaluated here: test accuracy ${pct(m.accuracy)}, loss ${m.loss.toFixed(4)}.`,
    );
  else if (m) out.push(`The notebook's own trained model, ${m.file}: ${m.missing}.`);
  return out;
}

const HEAD = ['preset', 'params', "seed's accuracy", 'ours', 'target', 'epochs', 'minutes', 'samples/s'];

function caveats(meta: ReportMeta): string[] {
  const out: string[] = [];
  if (meta.epochsScale !== 1)
    out.push(
      `Quick run: every recipe's epochs were scaled by ${meta.epochsScale}. These are not the real recipes, and the accuracies are not comparable with the seeds'.`,
    );
  // seeds 0: a single saved model, where seeds say nothing
  if (meta.seedsNote) out.push(meta.seedsNote);
  else if (meta.seeds > 0)
    out.push(
      meta.seeds > 1
        ? `Each accuracy is the median over ${meta.seeds} seeds; the figures show the median run.`
        : 'Each accuracy is from one seed (run with --seeds 3 for the median of three).',
    );
  out.push(meta.precision ?? 'Precision: float32 throughout; no preset used bf16.');
  if (meta.tunedNote) out.push(meta.tunedNote);
  return out;
}

export function markdown(entries: ReportEntry[], meta: ReportMeta): string {
  const L: string[] = [
    `# ${meta.title}`,
    '',
    `Generated ${meta.generated} by digits ${meta.version}; ${meta.backend}; ${meta.machine}.` +
      (meta.command ? ` Command: \`${meta.command}\`.` : ''),
    '',
  ];
  for (const c of caveats(meta)) L.push(`- ${c}`);
  L.push('', `| ${HEAD.join(' | ')} |`, `|${HEAD.map((_h, i) => (i === 0 ? '---' : '---:')).join('|')}|`);
  for (const r of tableRows(entries)) L.push(`| ${r.join(' | ')} |`);
  L.push('', `Total training time: ${minutes(entries.reduce((s, e) => s + e.totalSeconds, 0))} minutes.`, '');
  for (const e of entries) {
    const s = slug(e.name);
    L.push(
      `## ${e.name}`,
      '',
      e.description,
      '',
      `Recipe: ${e.recipe}`,
      '',
      `Test accuracy **${pct(e.testAccuracy)}** (loss ${e.testLoss.toFixed(4)})` +
        `; ${documentSays(e)}` +
        (e.target !== null ? `; target ≥ ${pct(e.target)} ${verdict(e)}` : '') +
        '.',
      '',
      `Training: ${e.epochs} epochs of batch ${e.batchSize} in ${minutes(e.trainSeconds)} min (${Math.round(e.samplesPerSecond).toLocaleString('en-US')} samples/s, ${e.backend} backend).`,
      '',
    );
    if (e.runs.length > 1) {
      L.push(`| ${e.ensemble ? 'member' : 'seed'} | test accuracy | test loss | minutes | samples/s |`, '|---:|---:|---:|---:|---:|');
      for (const [i, r] of e.runs.entries())
        L.push(
          `| ${runLabel(e, r, i)} | ${pct(r.testAccuracy)} | ${r.testLoss.toFixed(4)} | ${minutes(r.trainSeconds)} | ${Math.round(r.samplesPerSecond)} |`,
        );
      L.push('');
    }
    for (const n of e.notes) L.push(`- ${n}`);
    if (e.notes.length) L.push('');
    for (const t of referenceText(e)) L.push(t, '');
    const cmp = comparison(e);
    if (cmp) {
      L.push(`| ${cmp.head.join(' | ')} |`, `|${cmp.head.map(() => '---:').join('|')}|`);
      for (const r of cmp.rows) L.push(`| ${r.join(' | ')} |`);
      L.push('');
    }
    L.push('```', e.summary, '```', '');
    if (Object.values(e.history).some((v) => v.length))
      L.push(`![learning curves](figures/${s}-curves.png) ([SVG](figures/${s}-curves.svg))`, '');
    L.push(
      `![confusion matrix](figures/${s}-confusion.png) ([SVG](figures/${s}-confusion.svg))`,
      '',
      `![misclassified test digits](figures/${s}-misclassified.png) ([SVG](figures/${s}-misclassified.svg))`,
      '',
    );
  }
  return L.join('\n');
}

const dataUri = (svg: string) => `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}`;

const CSS = `
body{font:15px/1.45 system-ui,-apple-system,"DejaVu Sans",Arial,sans-serif;margin:0;color:#222;background:#fafafa}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{margin:0 0 6px}h2{margin:36px 0 8px;padding-top:12px;border-top:1px solid #ddd}
.meta{color:#666;font-size:13px}
table{border-collapse:collapse;margin:12px 0;background:#fff}
th,td{padding:5px 10px;border:1px solid #ddd;text-align:right}th{background:#f0f0f0}
td:first-child,th:first-child{text-align:left}
.ok{color:#1e7d32;font-weight:600}.miss{color:#c62828;font-weight:600}
figure{margin:12px 0;background:#fff;border:1px solid #e3e3e3;padding:8px;display:inline-block;max-width:100%;box-sizing:border-box}
figure img{max-width:100%;height:auto;display:block}
figcaption{font-size:12px;color:#666;margin-top:4px}
pre{background:#fff;border:1px solid #e3e3e3;padding:10px;overflow:auto;font-size:12px}
details{margin:8px 0}.acc{font-size:20px}
`;

function comparisonHtml(e: ReportEntry): string {
  const cmp = comparison(e);
  if (!cmp) return '';
  return `<details open class="per-epoch"><summary>per epoch: ours (the shown run) and the notebook's</summary><table><tr>${cmp.head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>${cmp.rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('')}</table></details>`;
}

export function htmlPage(entries: ReportEntry[], meta: ReportMeta, figs: Figures[]): string {
  const cls = (e: ReportEntry) => (e.target === null ? '' : e.testAccuracy >= e.target ? 'ok' : 'miss');
  const rows = tableRows(entries).map(
    (r, i) =>
      `<tr>${r.map((c, j) => `<td${j === 3 || j === 4 ? ` class="${cls(entries[i])}"` : ''}>${j === 0 ? `<a href="#${slug(entries[i].name)}">${esc(c)}</a>` : esc(c)}</td>`).join('')}</tr>`,
  );
  const fig = (svg: string, alt: string, caption: string) =>
    `<figure><img alt="${esc(alt)}" src="${dataUri(svg)}"><figcaption>${esc(caption)}</figcaption></figure>`;
  const sections = entries.map((e, i) => {
    const f = figs[i];
    const runs =
      e.runs.length > 1
        ? `<table><tr><th>${e.ensemble ? 'member' : 'seed'}</th><th>test accuracy</th><th>test loss</th><th>minutes</th><th>samples/s</th></tr>${e.runs
            .map(
              (r, i) =>
                `<tr><td>${esc(runLabel(e, r, i))}</td><td>${pct(r.testAccuracy)}</td><td>${r.testLoss.toFixed(4)}</td><td>${minutes(r.trainSeconds)}</td><td>${Math.round(r.samplesPerSecond)}</td></tr>`,
            )
            .join('')}</table>`
        : '';
    return `<section id="${slug(e.name)}"><h2>${esc(e.name)}</h2>
<p>${esc(e.description)}</p>
<p class="acc">test accuracy <b class="${cls(e)}">${pct(e.testAccuracy)}</b> <span class="meta">(loss ${e.testLoss.toFixed(4)})</span> —
${e.reportedAccuracy !== null ? `the seed document reports <b>${pct(e.reportedAccuracy)}</b>` : esc(documentSays(e))}${e.target !== null ? `; target ≥ ${pct(e.target)} <span class="${cls(e)}">${verdict(e)}</span>` : ''}</p>
<p>Recipe: ${esc(e.recipe)}<br>Training: ${e.epochs} epochs of batch ${e.batchSize} in ${minutes(e.trainSeconds)} min, ${Math.round(e.samplesPerSecond).toLocaleString('en-US')} samples/s (${esc(e.backend)} backend)</p>
${runs}${e.notes.length ? `<ul>${e.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>` : ''}
${referenceText(e)
  .map((t) => `<p class="reference">${esc(t)}</p>`)
  .join('\n')}${comparisonHtml(e)}
<details open><summary>model summary</summary><pre>${esc(e.summary)}</pre></details>
${f.curves ? fig(f.curves, `${e.name} learning curves`, 'Loss (log scale) and accuracy per epoch.') : '<p class="meta">No training history was saved with this model, so there are no learning curves.</p>'}
${fig(f.confusion, `${e.name} confusion matrix`, 'Rows: true label; columns: predicted. Colour on a symlog scale so single errors show.')}
${fig(f.misclassified, `${e.name} misclassified digits`, 'Green: true label; red: predicted; percentage: the model\u2019s confidence in its wrong answer.')}
</section>`;
  });
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(meta.title)}</title><style>${CSS}</style></head>
<body><main>
<h1>${esc(meta.title)}</h1>
<p class="meta">Generated ${esc(meta.generated)} by digits ${esc(meta.version)}; ${esc(meta.backend)}; ${esc(meta.machine)}.${meta.command ? ` Command: <code>${esc(meta.command)}</code>.` : ''}</p>
<ul>${caveats(meta)
    .map((c) => `<li>${esc(c)}</li>`)
    .join('')}</ul>
<table id="summary"><tr>${HEAD.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>
${rows.join('\n')}
</table>
<p>Total training time: ${minutes(entries.reduce((s, e) => s + e.totalSeconds, 0))} minutes.</p>
${sections.join('\n')}
</main></body></html>
`;
}
