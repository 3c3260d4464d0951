// Accepting AI text where the editor already closed a bracket: `print(|)` and a completion
// `circumference(r))` must give `print(circumference(r))`, not three parentheses. The closers
// right after the insertion point that the inserted text itself ends with are merged into it.
const CLOSERS = /^[)\]}>"'`]*/;

/** How many characters of `after` (the text after the insertion point) the insertion already ends with. */
export function closerOverlap(inserted: string, after: string): number {
  const run = CLOSERS.exec(after)![0];
  for (let k = Math.min(run.length, inserted.length); k > 0; k--) {
    if (inserted.endsWith(run.slice(0, k))) return k;
  }
  return 0;
}
