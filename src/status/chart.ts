import { barFor, type Bar } from '../../detectors/rate.js';
import { baselineView, bucketSd, slotOf, SLOTS } from '../state/baseline.js';
import type { StoredCounter } from '../state/baseline-read.js';
import { html, type Html } from './html.js';

const HOUR = 3_600_000;
const W = 640;
const H = 200;
const L = 40;
const R = 10;
const T = 12;
const B = 26;
const PW = W - L - R;
const PH = H - T - B;

export interface ChartMark {
  ts: number;
  observed: number;
  limit: number | null;
}

export interface RateChart {
  action: string;
  /** Per hour of day (UTC): expected events per bucket, its sd, the short bar, whether the hour is learned. */
  hours: Array<{ expected: number; sd: number; bar: number; learned: boolean }>;
  /** The counter's latest bucket. */
  bucket: { start: number; count: number };
  /** The mean bucket of the hour under way so far, or null. */
  hourMean: { hour: number; mean: number } | null;
  marks: ChartMark[];
  bucketMs: number;
  /** Closed buckets learned. */
  n: number;
}

/** The chart's numbers from a stored counter, the rate detector's short bar and the detections of it (JSON for the API too). */
export function rateChart(action: string, c: StoredCounter, bar: Bar, bucketMs: number, marks: ChartMark[]): RateChart {
  const hours = [];
  for (let h = 0; h < SLOTS; h++) {
    const v = baselineView(c.baseline, h * HOUR);
    hours.push({ expected: v.expected, sd: bucketSd(v.noise, v.expected), bar: barFor(bar, v.expectedHigh, v.noiseHigh), learned: v.slotN > 0 });
  }
  const b = c.baseline;
  return {
    action, hours, bucketMs, marks, n: b.n,
    bucket: { start: c.bucketStart, count: c.count },
    hourMean: b.hn > 0 ? { hour: b.hour, mean: b.hsum / b.hn } : null,
  };
}

const f = (n: number): string => (Math.round(n * 10) / 10).toString();
const hourOfDay = (ts: number): number => slotOf(ts) + (ts % HOUR + HOUR) % HOUR / HOUR;

/** Inline SVG, rendered here: numbers in attributes, the action only as escaped text. */
export function chartSvg(c: RateChart): Html {
  const top = Math.max(1, ...c.hours.map((h) => Math.max(h.bar, h.expected + h.sd)), c.bucket.count, ...c.marks.map((m) => m.observed), c.hourMean?.mean ?? 0) * 1.1;
  const x = (hour: number): number => L + (hour / SLOTS) * PW;
  const y = (v: number): number => T + PH - (Math.min(v, top) / top) * PH;
  const mid = (h: number): number => x(h + 0.5);
  const band = [
    ...c.hours.map((h, i) => `${f(mid(i))},${f(y(h.expected + h.sd))}`),
    ...c.hours.map((h, i) => `${f(mid(i))},${f(y(Math.max(0, h.expected - h.sd)))}`).reverse(),
  ].join(' ');
  const line = (pick: (h: RateChart['hours'][number]) => number): string => c.hours.map((h, i) => `${f(mid(i))},${f(y(pick(h)))}`).join(' ');
  const ticks = [0, top / 2, top / 1.1].map((v) => html`<line class="grid" x1="${f(L)}" x2="${f(W - R)}" y1="${f(y(v))}" y2="${f(y(v))}"/><text class="tick" x="${f(L - 4)}" y="${f(y(v) + 3)}" text-anchor="end">${f(v)}</text>`);
  const hoursAxis = [0, 3, 6, 9, 12, 15, 18, 21, 24].map((h) => html`<text class="tick" x="${f(x(h))}" y="${f(H - 8)}" text-anchor="${h === 0 ? 'start' : h === 24 ? 'end' : 'middle'}">${String(h).padStart(2, '0')}:00</text>`);
  const unlearned = c.hours.map((h, i) => (h.learned ? null : html`<rect class="unlearned" x="${f(x(i))}" y="${f(T)}" width="${f(PW / SLOTS)}" height="${f(PH)}"/>`));
  const now = hourOfDay(c.bucket.start + c.bucketMs / 2);
  const marks = c.marks.map((m) => {
    const cx = x(hourOfDay(m.ts));
    const cy = y(m.observed);
    return html`<path class="mark" d="M${f(cx)} ${f(cy - 6)}L${f(cx + 6)} ${f(cy)}L${f(cx)} ${f(cy + 6)}L${f(cx - 6)} ${f(cy)}Z"><title>detection: ${f(m.observed)} in a bucket${m.limit === null ? '' : ` (threshold ${f(m.limit)})`}</title></path>`;
  });
  return html`<svg class="chart" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${c.action}: events per bucket against its learned baseline, by hour of day (UTC)">
<title>${c.action}: events per bucket against its learned baseline</title>
${unlearned}${ticks}${hoursAxis}
<polygon class="band" points="${band}"/>
<polyline class="expected" points="${line((h) => h.expected)}"/>
<polyline class="bar" points="${line((h) => h.bar)}"/>
${c.hourMean ? html`<circle class="hourmean" cx="${f(x(hourOfDay(c.hourMean.hour) + 0.5))}" cy="${f(y(c.hourMean.mean))}" r="4"><title>this hour so far: ${f(c.hourMean.mean)} per bucket</title></circle>` : null}
<circle class="now" cx="${f(x(now))}" cy="${f(y(c.bucket.count))}" r="5"><title>latest bucket: ${c.bucket.count} events</title></circle>
${marks}
</svg>`;
}
