// Positions and changes on a text held as a JS string. JS strings are UTF-16, as are the protocol's
// positions and VS Code's, so a `character` is a string index inside its line: no conversion.
// Lines are split at "\n" only (a "\r" is a character of its line), as the protocol says.

export interface Position {
  line: number;
  character: number;
}
export interface Range {
  start: Position;
  end: Position;
}
export interface Change {
  range: Range;
  text: string;
}

/** Start offsets of each line of `text`. */
export function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) starts.push(i + 1);
  return starts;
}

/** The offset of `position`; a character past its line's end means the end (LSP's rule). */
export function offsetAt(text: string, position: Position, starts: number[] = lineStarts(text)): number {
  if (position.line >= starts.length) return text.length;
  const start = starts[position.line];
  const end = position.line + 1 < starts.length ? starts[position.line + 1] - 1 : text.length;
  return Math.min(start + Math.max(position.character, 0), end);
}

export function positionAt(text: string, offset: number, starts: number[] = lineStarts(text)): Position {
  let low = 0;
  let high = starts.length - 1;
  while (low < high) {
    const mid = (low + high + 1) >> 1;
    if (starts[mid] <= offset) low = mid;
    else high = mid - 1;
  }
  return { line: low, character: offset - starts[low] };
}

/** Changes applied in order, each against the text the previous ones left (LSP's rule). */
export function applyChanges(text: string, changes: readonly Change[]): string {
  for (const change of changes) {
    const starts = lineStarts(text);
    const from = offsetAt(text, change.range.start, starts);
    const to = offsetAt(text, change.range.end, starts);
    text = text.slice(0, from) + change.text + text.slice(to);
  }
  return text;
}

const isHigh = (code: number) => code >= 0xd800 && code <= 0xdbff;
const isLow = (code: number) => code >= 0xdc00 && code <= 0xdfff;

/** One change turning `before` into `after` (null when equal), never splitting a surrogate pair. */
export function diff(before: string, after: string): Change | null {
  if (before === after) return null;
  let prefix = 0;
  const limit = Math.min(before.length, after.length);
  while (prefix < limit && before.charCodeAt(prefix) === after.charCodeAt(prefix)) prefix++;
  if (prefix > 0 && isHigh(before.charCodeAt(prefix - 1))) prefix--;
  let suffix = 0;
  const rest = limit - prefix;
  while (suffix < rest && before.charCodeAt(before.length - 1 - suffix) === after.charCodeAt(after.length - 1 - suffix)) suffix++;
  if (suffix > 0 && isLow(before.charCodeAt(before.length - suffix))) suffix--;
  const starts = lineStarts(before);
  return {
    range: { start: positionAt(before, prefix, starts), end: positionAt(before, before.length - suffix, starts) },
    text: after.slice(prefix, after.length - suffix),
  };
}
