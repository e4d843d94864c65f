// A drawing pad shared by the draw-a-digit page and the lab: pointer strokes (mouse, touch, pen) drawn
// as round lines on a canvas, with the pages' own reactions as hooks.
export interface Point {
  x: number;
  y: number;
}

export interface PadHooks {
  /** A stroke is about to begin. */
  down?(): void;
  /** The segment a→b (a dot when a is b) is about to be drawn: set the pen, note where the ink goes. */
  segment?(a: Point, b: Point): void;
  /** Ink was added (throttle predictions here). */
  drawn(): void;
  /** The stroke ended (pointerup or pointercancel). */
  up(e: PointerEvent): void;
}

export function attachPad(pad: HTMLCanvasElement, ctx: CanvasRenderingContext2D, hooks: PadHooks): void {
  let last: Point | null = null;
  const at = (e: PointerEvent): Point => {
    const r = pad.getBoundingClientRect();
    return { x: ((e.clientX - r.left) * pad.width) / r.width, y: ((e.clientY - r.top) * pad.height) / r.height };
  };
  const line = (a: Point, b: Point) => {
    hooks.segment?.(a, b);
    ctx.beginPath();
    ctx.moveTo(a.x, a.y);
    ctx.lineTo(b.x, b.y);
    ctx.stroke();
  };
  Object.assign(ctx, { lineCap: 'round', lineJoin: 'round', strokeStyle: '#000' });
  pad.addEventListener('pointerdown', (e) => {
    hooks.down?.();
    try {
      pad.setPointerCapture(e.pointerId);
    } catch {
      /* a synthetic or already-lifted pointer: draw without capture */
    }
    last = at(e);
    line(last, last);
    hooks.drawn();
  });
  pad.addEventListener('pointermove', (e) => {
    if (!last) return;
    // coalesced events give the full resolution of fast strokes; synthetic events have none
    const evs = e.getCoalescedEvents?.() ?? [];
    for (const ev of evs.length > 0 ? evs : [e]) {
      const p = at(ev);
      line(last, p);
      last = p;
    }
    hooks.drawn();
  });
  const end = (e: PointerEvent) => {
    if (!last) return;
    last = null;
    hooks.up(e);
  };
  pad.addEventListener('pointerup', end);
  pad.addEventListener('pointercancel', end);
}
