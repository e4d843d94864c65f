// From an ink map to the digit's strokes: connected components, minus what is not the digit (ruled
// lines and frames, shadows and edges at the picture's border, specks), grouped into one digit or a
// row of digits. Free of node modules: the page runs it too.

export interface Box {
  x0: number;
  x1: number;
  y0: number;
  y1: number;
}
export interface Component extends Box {
  id: number;
  mass: number;
  count: number;
  border: boolean;
  rim: number;
}

// components lighter than this share of the heaviest are paper specks, not strokes
const SPECK = 0.01;

/** 8-connected components of the nonzero ink, with mass, pixel count, box, and how much lies in the picture's rim. */
export function components(ink: Float32Array, width: number, height: number): { labels: Int32Array; comps: Component[] } {
  const labels = new Int32Array(ink.length);
  const comps: Component[] = [];
  const stack = new Int32Array(ink.length);
  const band = Math.max(1, Math.round(0.08 * Math.min(width, height)));
  for (let start = 0; start < ink.length; start++) {
    if (ink[start] === 0 || labels[start] !== 0) continue;
    // locals, not object fields, in the hot loop: this runs once per ink pixel of every request
    const id = comps.length + 1;
    let mass = 0,
      rim = 0,
      count = 0,
      x0 = width,
      x1 = -1,
      y0 = height,
      y1 = -1,
      sp = 0;
    stack[sp++] = start;
    labels[start] = id;
    while (sp > 0) {
      const p = stack[--sp];
      const y = (p / width) | 0,
        x = p - y * width;
      const v = ink[p];
      mass += v;
      count++;
      if (x < band || y < band || x >= width - band || y >= height - band) rim += v;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
      const dxLo = x > 0 ? -1 : 0,
        dxHi = x < width - 1 ? 1 : 0;
      for (let dy = y > 0 ? -1 : 0, dyHi = y < height - 1 ? 1 : 0; dy <= dyHi; dy++) {
        const row = p + dy * width;
        for (let dx = dxLo; dx <= dxHi; dx++) {
          const q = row + dx;
          if (labels[q] === 0 && ink[q] !== 0) {
            labels[q] = id;
            stack[sp++] = q;
          }
        }
      }
    }
    const border = x0 === 0 || y0 === 0 || x1 === width - 1 || y1 === height - 1;
    comps.push({ id, mass, count, x0, x1, y0, y1, border, rim: rim / mass });
  }
  return { labels, comps };
}

export function boxOf(cs: Box[]): Box {
  let x0 = Infinity,
    x1 = -Infinity,
    y0 = Infinity,
    y1 = -Infinity;
  for (const c of cs) {
    x0 = Math.min(x0, c.x0);
    x1 = Math.max(x1, c.x1);
    y0 = Math.min(y0, c.y0);
    y1 = Math.max(y1, c.y1);
  }
  return { x0, x1, y0, y1 };
}

const side = (b: Box) => Math.max(b.x1 - b.x0 + 1, b.y1 - b.y0 + 1);

/** Gap between two boxes (0 when they overlap), in pixels, the larger of the x and y gaps. */
function gap(a: Box, b: Box): number {
  return Math.max(0, Math.max(a.x0, b.x0) - Math.min(a.x1, b.x1), Math.max(a.y0, b.y0) - Math.min(a.y1, b.y1));
}

/**
 * Ruled lines, margins and long straight rules: thin bands of ink along a row or a column (tilted up
 * to 4°, as a photographed page is) reaching over 80% of the picture, at least twice as far as the
 * drawing beside them and past it at both ends, the drawing being no mere flag on them (a 1's). Their pixels are removed, except where a
 * stroke crosses them (the ink there reaches well beyond the band on both sides).
 */
export function removeLines(ink: Float32Array, w: number, h: number): Float32Array {
  const bands = [...lineBands(ink, w, h, false), ...lineBands(ink, w, h, true)];
  if (bands.length === 0) return ink;
  const masks = bands.map((b) => bandPixels(ink, w, h, b));
  // the drawing without any candidate line (its parts, not specks or the crossings of rules) is what
  // the lines are measured against
  const rest = Float32Array.from(ink);
  for (const m of masks) for (const i of m) rest[i] = 0;
  // (shadows in the picture's rim do not count: keepStrokes drops them anyway)
  const comps = components(rest, w, h).comps.filter((c) => !(c.border && c.rim > 0.6));
  const heaviest = comps.reduce((m, c) => Math.max(m, c.mass), 0);
  const bandMass = masks.map((m) => m.reduce((a, i) => a + ink[i], 0));
  // nothing but rules (and their crossings): a lone upright line is what was drawn (a 1); ruled paper
  // alone has no digit
  if (heaviest < 0.05 * Math.max(...bandMass)) return bands.length === 1 && bands[0].vertical ? ink : rest.fill(0);
  const parts = comps.filter((c) => c.mass >= 0.1 * heaviest);
  const main = { ...boxOf(parts), mass: parts.reduce((m, c) => m + c.mass, 0) };
  // a rule runs on past the drawing at both ends; a 7's stem or a 1's body ends where its flag is
  const rule = bands.map((b, k) => {
    const [m0, m1] = b.vertical ? [main.y0, main.y1] : [main.x0, main.x1];
    const extent = m1 - m0 + 1,
      margin = 0.25 * extent;
    return b.b - b.a + 1 >= 2 * extent && b.a <= m0 - margin && b.b >= m1 + margin && main.mass >= 0.15 * bandMass[k];
  });
  // ruled paper: when one of its evenly spaced rules is plainly a rule, so are the others
  for (const vertical of [false, true]) {
    if (bands.some((b, k) => rule[k] && b.ruled && b.vertical === vertical))
      bands.forEach((b, k) => {
        if (b.ruled && b.vertical === vertical) rule[k] = true;
      });
  }
  if (!rule.some(Boolean)) return ink;
  const out = Float32Array.from(ink);
  bands.forEach((_b, k) => {
    if (rule[k]) for (const i of masks[k]) out[i] = 0;
  });
  return out;
}

interface Band {
  vertical: boolean;
  slope: number;
  r0: number;
  r1: number;
  a: number;
  b: number;
  cols: Uint8Array;
  ruled: boolean;
}

/** Thin bands of long runs along rows (or columns), at the tilt where the longest line is strongest. */
function lineBands(ink: Float32Array, w: number, h: number, vertical: boolean): Band[] {
  // `along` runs the length of a line, `across` over the lines; sheared rows follow a tilt
  const L = vertical ? h : w,
    A = vertical ? w : h;
  const get = vertical ? (c: number, r: number) => ink[c * w + r] : (c: number, r: number) => ink[r * w + c];
  const minLen = 0.8 * L;
  // quick refusal: a rule tilted up to 4° lies within a band of rows 7% of its length high, and there
  // it covers most columns; a digit covers no more than its own width of any band
  // and from near one end of the picture to near the other (read straight off the map: most pictures stop here)
  const bh = Math.ceil(0.07 * L) + 4,
    nb = Math.ceil(A / bh) + 1;
  const seen = new Uint8Array(nb * L),
    cover = new Int32Array(nb),
    lo = new Int32Array(nb).fill(L),
    hi = new Int32Array(nb).fill(-1);
  let count = 0;
  for (let i = 0; i < ink.length; i++) {
    if (!(ink[i] > 0)) continue;
    count++;
    const y = (i / w) | 0,
      x = vertical ? y : i - y * w,
      b = ((vertical ? i - y * w : y) / bh) | 0;
    for (let q = b; q <= b + 1; q++) {
      if (seen[q * L + x]) continue;
      seen[q * L + x] = 1;
      cover[q]++;
      if (x < lo[q]) lo[q] = x;
      if (x > hi[q]) hi[q] = x;
    }
  }
  if (count < minLen) return [];
  let possible = false;
  for (let q = 0; q < nb && !possible; q++) possible = cover[q] >= 0.4 * L && lo[q] <= 0.12 * L && hi[q] >= 0.88 * L;
  if (!possible) return [];
  const xs: number[] = [],
    ys: number[] = [];
  for (let i = 0; i < ink.length; i++)
    if (ink[i] > 0) {
      const y = (i / w) | 0,
        x = i - y * w;
      xs.push(vertical ? y : x);
      ys.push(vertical ? x : y);
    }
  // the tilt: coarse steps over ±4°, then finer ones around the best, until a thin line stays in one row
  const maxSlope = 0.07,
    steps = 8;
  const off = Math.ceil(maxSlope * L) + 2;
  const prof = new Float64Array(A + 2 * off);
  const strength = (s: number) => {
    prof.fill(0);
    // pixels, not mass: a faint rule is as long as a dark one
    for (let i = 0; i < xs.length; i++) prof[ys[i] - Math.round(xs[i] * s) + off]++;
    // the sharpest profile (sum of squares), so that a thick line's ties go to its true tilt
    let m = 0;
    for (const v of prof) m += v * v;
    return m;
  };
  let best = 0,
    slope = 0;
  for (let k = -steps; k <= steps; k++) {
    const s = (k / steps) * maxSlope,
      m = strength(s);
    if (m > best) {
      best = m;
      slope = s;
    }
  }
  if (Math.sqrt(best) < 0.25 * minLen) return [];
  for (let step = maxSlope / steps / 2; step * L > 0.5; step /= 2) {
    const centre = slope;
    for (const s of [centre - step, centre + step]) {
      const m = strength(s);
      if (m > best) {
        best = m;
        slope = s;
      }
    }
  }
  let peak = 0;
  prof.fill(0);
  for (let i = 0; i < xs.length; i++) {
    const r = ys[i] - Math.round(xs[i] * slope) + off;
    prof[r]++;
    if (prof[r] > peak) peak = prof[r];
  }
  if (peak < 0.4 * minLen) return [];
  const maxGap = Math.max(2, Math.round(0.03 * L)); // rules come out broken where they are faint
  const runs: { r: number; a: number; b: number }[] = [];
  const minPiece = Math.max(8, 0.05 * L);
  const rows = new Map<number, { pieces: { a: number; b: number }[]; covered: number }>();
  for (let r = -off; r < A + off; r++) {
    // too little ink along this row (and the next, which a thin tilted line may step into) for any rule
    if (prof[r + off] + (r + 1 + off < prof.length ? prof[r + 1 + off] : 0) < 0.05 * L) continue;
    // where this sheared row is inside the picture: a tilted rule near a corner leaves it early, and
    // a run from edge to edge of that stretch is a rule cut off by the picture, not a short stroke
    let in0 = -1,
      in1 = -1;
    for (let c = 0; c < L; c++) {
      const y = r + Math.round(c * slope);
      if (y >= 0 && y < A) {
        if (in0 < 0) in0 = c;
        in1 = c;
      }
    }
    if (in0 < 0 || in1 - in0 + 1 < 0.2 * L) continue;
    const long = (a: number, b: number) => b - a + 1 >= minLen || (a <= in0 + maxGap && b >= in1 - maxGap && b - a + 1 >= 0.2 * L);
    const row: { a: number; b: number }[] = [];
    let a = -1,
      last = -1,
      covered = 0;
    for (let c = in0; c <= in1; c++) {
      // a line one pixel thick may step between two sheared rows: either counts
      const y = r + Math.round(c * slope);
      const on = (y < A && get(c, y) > 0) || (y + 1 < A && get(c, y + 1) > 0);
      if (!on) continue;
      covered++;
      if (a < 0 || c - last > maxGap + 1) {
        if (a >= 0) row.push({ a, b: last });
        a = c;
      }
      last = c;
    }
    if (a >= 0) row.push({ a, b: last });
    // a rule: one long run, or (a faint rule, broken where it fades) pieces along most of the row,
    // from near one end of it to near the other
    const pieces = row.filter((q) => q.b - q.a + 1 >= minPiece),
      span = in1 - in0 + 1;
    const spread =
      pieces.length >= 2 && covered >= 0.4 * span && pieces[0].a <= in0 + 0.1 * span && pieces[pieces.length - 1].b >= in1 - 0.1 * span;
    rows.set(r, { pieces, covered: pieces.reduce((m, q) => m + q.b - q.a + 1, 0) / span });
    if (!row.some((q) => long(q.a, q.b)) && !spread) continue;
    for (const q of row) if (long(q.a, q.b) || q.b - q.a + 1 >= minPiece) runs.push({ r, ...q });
  }
  // ruled paper: rules repeat at one spacing, so where the clear ones say the next should be, pieces
  // over a quarter of the row are a rule too (it faded, or a digit hides part of it)
  let ruled = false;
  const centres = [...new Set(runs.map((q) => q.r))].sort((p, q) => p - q).filter((r, i, rs) => i === 0 || r > rs[i - 1] + 1);
  if (centres.length >= 2) {
    const gaps = centres
      .slice(1)
      .map((r, i) => r - centres[i])
      .filter((g) => g >= 6);
    const sp0 = Math.min(...gaps);
    const fits = gaps.filter((g) => Math.abs(g / sp0 - Math.round(g / sp0)) * sp0 <= 3).length;
    // the spacing to a fraction of a pixel, from the first clear rule to the last
    const total = centres[centres.length - 1] - centres[0],
      sp = total / Math.max(1, Math.round(total / sp0));
    if (Number.isFinite(sp0) && fits === gaps.length && fits >= 1) {
      ruled = true;
      const known = new Set(runs.map((q) => q.r));
      for (let k = -Math.ceil((centres[0] + off) / sp); centres[0] + k * sp < A + off; k++) {
        const at = Math.round(centres[0] + k * sp);
        if ([-1, 0, 1].some((d) => known.has(at + d))) continue;
        for (let r = at - 3; r <= at + 3; r++) {
          const row = rows.get(r);
          if (row && row.covered >= 0.25) for (const q of row.pieces) runs.push({ r, ...q });
        }
      }
      runs.sort((p, q) => p.r - q.r);
    }
  }
  // bands of consecutive sheared rows with long runs are the lines; a thick band is a stroke, not a rule
  const maxThick = Math.max(3, Math.round(0.06 * L));
  const bands: Band[] = [];
  for (const run of runs) {
    let band = bands.at(-1);
    if (band && run.r <= band.r1 + 1) {
      band.r1 = Math.max(band.r1, run.r);
      band.a = Math.min(band.a, run.a);
      band.b = Math.max(band.b, run.b);
    } else {
      band = { vertical, slope, r0: run.r, r1: run.r, a: run.a, b: run.b, cols: new Uint8Array(L), ruled };
      bands.push(band);
    }
    band.cols.fill(1, run.a, run.b + 1);
  }
  return bands.filter((b) => b.r1 - b.r0 + 1 <= maxThick);
}

/** A band's pixels, without those of strokes crossing it (where the ink runs on well beyond the band). */
function bandPixels(ink: Float32Array, w: number, h: number, b: Band): number[] {
  const A = b.vertical ? w : h;
  const idx = b.vertical ? (c: number, r: number) => c * w + r : (c: number, r: number) => r * w + c;
  const t = b.r1 - b.r0 + 1,
    out: number[] = [];
  for (let c = b.a; c <= b.b; c++) {
    if (!b.cols[c]) continue;
    const sh = Math.round(c * b.slope);
    let u = Math.max(0, b.r0 + sh),
      d = Math.min(A - 1, b.r1 + sh);
    while (u > 0 && ink[idx(c, u - 1)] > 0) u--;
    while (d < A - 1 && ink[idx(c, d + 1)] > 0) d++;
    if (d - u + 1 > t + Math.max(2, t)) continue;
    for (let r = u; r <= d; r++) if (ink[idx(c, r)] > 0) out.push(idx(c, r));
  }
  return out;
}

/**
 * The components that make up the drawing: shadows, page edges and cut-off neighbours that touch the
 * border and lie mostly in its rim, and frames (a rectangle's outline around other strokes), dropped
 * when a digit stands apart from them; then specks.
 */
export function keepStrokes(ink: Float32Array, labels: Int32Array, comps: Component[], width: number, height: number): Component[] {
  if (comps.length === 0) return comps;
  const heaviest = comps.reduce((m, c) => Math.max(m, c.mass), 0);
  const minSide = Math.min(width, height);
  // a rule or a frame's side running from one edge of the picture to the other, thin beside it
  const rule = (c: Component) =>
    (c.x0 === 0 && c.x1 === width - 1 && c.y1 - c.y0 + 1 <= 0.1 * height) ||
    (c.y0 === 0 && c.y1 === height - 1 && c.x1 - c.x0 + 1 <= 0.1 * width);
  const junk = (c: Component) =>
    c.border && (c.rim > 0.6 || (c.x1 - c.x0 + 1 >= 0.9 * width && c.y1 - c.y0 + 1 >= 0.9 * height) || rule(c));
  const inside = (c: Component, f: Component) => c.x0 > f.x0 && c.x1 < f.x1 && c.y0 > f.y0 && c.y1 < f.y1;
  const frame = (f: Component) => comps.some((c) => c !== f && c.mass >= 0.01 * f.mass && inside(c, f)) && isFrame(labels, width, f);
  const rest = comps.filter((c) => !junk(c) && !frame(c));
  const top = rest.reduce<Component | null>((m, c) => (!m || c.mass > m.mass ? c : m), null);
  // a digit stands apart from what was dropped: not a speck beside it, nor a 1's flag beside its body
  const longest = comps.filter((c) => !rest.includes(c)).reduce((m, c) => Math.max(m, side(c)), 0);
  let kept = comps;
  if (top && side(top) >= Math.max(0.05 * minSide, 0.25 * longest) && top.mass >= 0.02 * heaviest) kept = rest;
  // only shadows in the rim and edge-to-edge rules: a blank page, however lit
  else if (comps.every((c) => (c.border && (c.rim > 0.6 || rule(c))) || c.mass < SPECK * heaviest)) return [];
  const h = kept.reduce((m, c) => Math.max(m, c.mass), 0);
  return kept.filter((c) => c.mass >= SPECK * h);
}

/** A rectangle's outline: nearly all its pixels within a thin band inside its box, and ink in at least three corners. */
function isFrame(labels: Int32Array, width: number, f: Component): boolean {
  const fw = f.x1 - f.x0 + 1,
    fh = f.y1 - f.y0 + 1;
  if (f.count > 0.6 * fw * fh) return false;
  // the band: 6% of the box, or twice the line's width if the frame was drawn with a broad pen
  const t = f.count / (2 * (fw + fh));
  const bx = Math.max(1, Math.round(Math.max(0.06 * fw, 2 * t))),
    by = Math.max(1, Math.round(Math.max(0.06 * fh, 2 * t)));
  let inBand = 0;
  const corner = [0, 0, 0, 0];
  for (let y = f.y0; y <= f.y1; y++)
    for (let x = f.x0; x <= f.x1; x++) {
      if (labels[y * width + x] !== f.id) continue;
      const nearX = x < f.x0 + bx ? 0 : x > f.x1 - bx ? 1 : -1,
        nearY = y < f.y0 + by ? 0 : y > f.y1 - by ? 1 : -1;
      if (nearX >= 0 || nearY >= 0) inBand++;
      if (nearX >= 0 && nearY >= 0) corner[nearY * 2 + nearX] = 1;
    }
  return inBand >= 0.85 * f.count && corner.reduce((a, b) => a + b, 0) >= 3;
}

/** One digit: the heaviest component and those near it (a 5's flag, a 4's second stroke), not far-off marks. */
export function digitGroup(kept: Component[]): Component[] {
  if (kept.length <= 1) return kept;
  const sorted = [...kept].sort((a, b) => b.mass - a.mass);
  const group = [sorted[0]];
  let box = boxOf(group);
  for (let changed = true; changed;) {
    changed = false;
    for (const c of sorted) {
      if (group.includes(c)) continue;
      // near, and either substantial or touching: bits of a rule or dust beside a digit stay out
      const g = gap(box, c);
      if ((g <= 0.3 * side(box) && (c.mass >= 0.05 * sorted[0].mass || g <= 0.05 * side(box))) || c.mass >= 0.5 * sorted[0].mass) {
        group.push(c);
        box = boxOf(group);
        changed = true;
      }
    }
  }
  return group;
}

/**
 * A row of digits, left to right: components merged when one lies mostly over the other (the two
 * strokes of a 4, a 5's flag: more than 70% of the narrower's width, or 30% for a part much shorter
 * than the other) or stands above or below it (a stroke broken in two); dots and dashes much smaller
 * than the digits dropped. Digits that touch stay one
 * group here: the caller splits a group too wide for one digit.
 */
export function rowGroups(kept: Component[]): Component[][] {
  const groups: Component[][] = [];
  const height = (b: Box) => b.y1 - b.y0 + 1,
    width = (b: Box) => b.x1 - b.x0 + 1;
  for (const c of [...kept].sort((a, b) => a.x0 - b.x0)) {
    const g = groups.find((gr) => {
      const b = boxOf(gr);
      const overlap = Math.min(b.x1, c.x1) - Math.max(b.x0, c.x0) + 1,
        narrower = Math.min(width(b), width(c));
      const part = Math.min(height(b), height(c)) < 0.6 * Math.max(height(b), height(c));
      // one above the other, not beside it: the pieces of a broken stroke (digits in a row sit side by side)
      const stacked = overlap > 0 && (c.y0 > b.y1 - 0.1 * height(b) || c.y1 < b.y0 + 0.1 * height(b));
      return overlap > 0.7 * narrower || (part && overlap > 0.3 * narrower) || stacked;
    });
    if (g) g.push(c);
    else groups.push([c]);
  }
  const tallest = Math.max(...groups.map((g) => height(boxOf(g))));
  // a short piece right beside a digit (a stroke broken off it) joins the nearer neighbour
  for (let i = 0; i < groups.length; i++) {
    const b = boxOf(groups[i]);
    if (groups.length < 2 || height(b) >= 0.5 * tallest) continue;
    const gapTo = (j: number) => {
      const o = boxOf(groups[j]);
      return Math.max(0, Math.max(o.x0, b.x0) - Math.min(o.x1, b.x1));
    };
    const near = [i - 1, i + 1]
      .filter((j) => j >= 0 && j < groups.length && height(boxOf(groups[j])) >= 0.5 * tallest)
      .sort((p, q) => gapTo(p) - gapTo(q))[0];
    if (near === undefined || gapTo(near) > 0.3 * tallest) continue;
    groups[near].push(...groups[i]);
    groups.splice(i--, 1);
  }
  const heaviest = Math.max(...groups.map((g) => g.reduce((m, c) => m + c.mass, 0)));
  return groups.filter((g) => height(boxOf(g)) >= 0.3 * tallest || g.reduce((m, c) => m + c.mass, 0) >= 0.15 * heaviest);
}

/**
 * Stroke width in pixels: twice the ink's area over its outline's length (a stroke of length L and
 * width w has area L·w and an outline of about 2L). Area counts partial pixels; the outline is taken
 * at half strength.
 */
export function strokeWidth(ink: Float32Array, w: number, h: number, box: Box): number {
  let area = 0,
    edges = 0;
  for (let y = box.y0; y <= box.y1; y++)
    for (let x = box.x0; x <= box.x1; x++) {
      const v = ink[y * w + x];
      area += v;
      const on = v >= 0.5;
      const right = x + 1 < w && ink[y * w + x + 1] >= 0.5,
        down = y + 1 < h && ink[(y + 1) * w + x] >= 0.5;
      if (on !== right) edges++;
      if (on !== down) edges++;
      if (x === box.x0 && on) edges++;
      if (y === box.y0 && on) edges++;
    }
  return edges > 0 ? (2 * area) / edges : 0;
}
