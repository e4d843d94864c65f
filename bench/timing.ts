/** Milliseconds per call of fn, calling it until `budgetMs` have passed (at least once). */
export function msPerCall(fn: () => void, budgetMs: number): number {
  let reps = 0,
    elapsed = 0;
  const t0 = process.hrtime.bigint();
  do {
    fn();
    reps++;
    elapsed = Number(process.hrtime.bigint() - t0) / 1e6;
  } while (elapsed < budgetMs);
  return elapsed / reps;
}
