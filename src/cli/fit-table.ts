/** Control characters (an identity or reason may carry any) shown as escapes, so a cell cannot drive the terminal. */
export function printable(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

const ELLIPSIS = '…';
const length = (s: string): number => [...s].length;

/** `s` in `width` characters: its start and (the longer part) its end, where identities differ most. */
export function shortenMiddle(s: string, width: number): string {
  const chars = [...s];
  if (chars.length <= width) return s;
  const head = Math.floor((width - 1) / 3);
  return chars.slice(0, head).join('') + ELLIPSIS + chars.slice(chars.length - (width - 1 - head)).join('');
}

function shortenEnd(s: string, width: number): string {
  const chars = [...s];
  return chars.length <= width ? s : chars.slice(0, Math.max(width - 1, 0)).join('') + ELLIPSIS;
}

/** `s` in `width` characters around position `at` (where it differs from a look-alike), with its start and end. */
function shortenAround(s: string, width: number, at: number): string {
  const chars = [...s];
  if (chars.length <= width) return s;
  const head = Math.floor(width / 4);
  const tail = Math.floor(width / 3);
  const mid = width - head - tail - 2;
  if (mid < 1) return shortenMiddle(s, width);
  const start = Math.min(Math.max(at - Math.floor(mid / 2), head), chars.length - tail - mid);
  const end = (n: number): string => chars.slice(chars.length - n).join('');
  // Near either end one ellipsis does, with a longer start or end.
  if (start <= head + 1) return `${chars.slice(0, width - 1 - tail).join('')}${ELLIPSIS}${end(tail)}`;
  if (start + mid >= chars.length - tail - 1) return `${chars.slice(0, head).join('')}${ELLIPSIS}${end(width - 1 - head)}`;
  return `${chars.slice(0, head).join('')}${ELLIPSIS}${chars.slice(start, start + mid).join('')}${ELLIPSIS}${end(tail)}`;
}

const firstDifference = (a: string[], b: string[]): number => {
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  return i;
};

/**
 * Distinct values shortened to `width`, still distinct: in the middle, or, for
 * look-alikes that would then read the same, around where each differs from
 * the others. Undefined when `width` is too narrow for that.
 */
function shortenAll(values: string[], width: number): Map<string, string> | undefined {
  const out = new Map(values.map((v) => [v, shortenMiddle(v, width)]));
  const byText = new Map<string, string[]>();
  for (const [v, t] of out) byText.set(t, [...(byText.get(t) ?? []), v]);
  for (const group of byText.values()) {
    if (group.length < 2) continue;
    const chars = group.map((v) => [...v]);
    for (const [i, v] of group.entries()) {
      const at = Math.max(...chars.map((c, j) => (j === i ? 0 : firstDifference(chars[i]!, c))));
      out.set(v, shortenAround(v, width, at));
    }
  }
  return new Set(out.values()).size === values.length ? out : undefined;
}

/** The narrowest width from `min` at which distinct values stay distinct once shortened. */
function unambiguous(values: string[], min: number, max: number): { width: number; short: Map<string, string> } {
  const distinct = [...new Set(values)];
  for (let w = min; w < max; w++) {
    const short = shortenAll(distinct, w);
    if (short) return { width: w, short };
  }
  return { width: max, short: new Map(distinct.map((v) => [v, v])) };
}

export interface FitResult {
  text: string;
  /** Whether any cell was shortened. */
  shortened: boolean;
}

const MIN_FIRST = 20;
const MIN_LAST = 12;

/**
 * A table in `columns` characters (no limit when undefined): the first column
 * (identities) shortens in the middle, the last (free text) at its end; the
 * others keep their width. Shortened identities stay distinct from each other.
 */
export function fitTable(head: string[], rows: string[][], columns?: number): FitResult {
  const lines = [head, ...rows].map((r) => r.map(printable));
  const widths = head.map((_, i) => Math.max(...lines.map((r) => length(r[i] ?? ''))));
  const last = head.length - 1;
  const total = widths.reduce((a, b) => a + b, 0) + 2 * last;
  let shortened = false;
  if (columns !== undefined && total > columns && last > 0) {
    const avail = columns - (total - widths[0]! - widths[last]!);
    const first = Math.min(widths[0]!, Math.max(MIN_FIRST, avail - Math.min(widths[last]!, MIN_LAST)));
    const { width: firstWidth, short } = unambiguous(lines.slice(1).map((r) => r[0]!), first, widths[0]!);
    const lastWidth = Math.max(MIN_LAST, avail - firstWidth);
    for (const r of lines.slice(1)) {
      const a = short.get(r[0]!)!;
      const b = shortenEnd(r[last]!, lastWidth);
      if (a !== r[0] || b !== r[last]) shortened = true;
      r[0] = a;
      r[last] = b;
    }
    widths[0] = Math.max(length(head[0]!), firstWidth);
  }
  const pad = (c: string, w: number): string => c + ' '.repeat(Math.max(w - length(c), 0));
  const text = lines.map((r) => r.map((c, i) => (i === last ? c : pad(c, widths[i]!))).join('  ')).join('\n');
  return { text, shortened };
}

/** The terminal's width when stdout is one, else $COLUMNS when set: piped output stays whole for scripts. */
export function terminalColumns(stream: NodeJS.WriteStream = process.stdout, env = process.env): number | undefined {
  if (stream.isTTY && stream.columns > 0) return stream.columns;
  const n = Number(env.COLUMNS);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}
