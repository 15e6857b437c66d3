/**
 * What the status page knows of decisions: the decisions topic's records of
 * the last while, by identity, in memory (bounded). Pure: fed records by the
 * topic tail, read by the pages. Records are what Warden wrote; every string
 * in them is agent input and is escaped where rendered.
 */
export type AuditKind = 'detection' | 'command' | 'control';

export interface AuditEntry {
  kind: AuditKind;
  /** Event time of the decision (its `ts`, or `issuedAt` for a command). */
  ts: number;
  record: Record<string, unknown>;
}

export interface IndexLimits {
  /** Entries kept per identity, newest kept. */
  perIdentity: number;
  /** Identities kept, the least recently updated dropped first. */
  identities: number;
}

export const DEFAULT_LIMITS: IndexLimits = { perIdentity: 200, identities: 10_000 };

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** The entry a decisions-topic record makes, or null for what the page does not show (restatements, junk). */
export function auditEntry(value: string): { identity: string; entry: AuditEntry; key: string } | null {
  let rec: unknown;
  try {
    rec = JSON.parse(value);
  } catch {
    return null;
  }
  if (typeof rec !== 'object' || rec === null || Array.isArray(rec)) return null;
  const r = rec as Record<string, unknown>;
  const identity = str(r.identity);
  if (identity === null) return null;
  if (r.kind === 'detection') {
    const ts = num(r.ts);
    return ts === null ? null : { identity, entry: { kind: 'detection', ts, record: r }, key: `d|${String(r.eventId)}|${String(r.detector)}|${String(r.rule)}|${String(r.scope)}` };
  }
  if (r.kind === 'command') {
    // A restatement changes nothing: it is the republish round, not a decision.
    const ts = num(r.issuedAt);
    if (r.type === 'state' || ts === null) return null;
    return { identity, entry: { kind: 'command', ts, record: r }, key: `c|${String(r.commandId)}` };
  }
  if (r.kind === 'control') {
    const ts = num(r.ts);
    return ts === null ? null : { identity, entry: { kind: 'control', ts, record: r }, key: `o|${String(r.controlId)}` };
  }
  return null;
}

interface Book {
  entries: AuditEntry[];
  /** Entry keys, for duplicates; a dropped entry's key goes with it. */
  keys: Map<AuditEntry, string>;
  seen: Set<string>;
}

export class AuditIndex {
  /** Map order is update order: the first is the least recently updated. */
  private readonly books = new Map<string, Book>();
  private readonly controls = new Map<string, AuditEntry>();
  /** Record timestamp of the first record read, and how many were read. */
  since: number | null = null;
  read = 0;

  constructor(private readonly limits: IndexLimits = DEFAULT_LIMITS) {}

  /** One decisions-topic record; duplicates (an outbox published twice) are kept once. */
  add(value: string, timestamp = 0): void {
    this.read++;
    this.since ??= timestamp;
    const e = auditEntry(value);
    if (!e) return;
    let book = this.books.get(e.identity);
    if (book) this.books.delete(e.identity);
    else book = { entries: [], keys: new Map(), seen: new Set() };
    this.books.set(e.identity, book);
    if (!book.seen.has(e.key)) {
      book.seen.add(e.key);
      book.keys.set(e.entry, e.key);
      // Kept in event-time order; records mostly arrive in it.
      let i = book.entries.length;
      while (i > 0 && book.entries[i - 1]!.ts > e.entry.ts) i--;
      book.entries.splice(i, 0, e.entry);
      if (book.entries.length > this.limits.perIdentity) {
        const dropped = book.entries.shift()!;
        book.seen.delete(book.keys.get(dropped)!);
        book.keys.delete(dropped);
      }
      if (e.entry.kind === 'control') {
        this.controls.set(String(e.entry.record.controlId), e.entry);
        if (this.controls.size > this.limits.identities) this.controls.delete(this.controls.keys().next().value!);
      }
    }
    while (this.books.size > this.limits.identities) this.books.delete(this.books.keys().next().value!);
  }

  /** An identity's decisions, oldest first. */
  timeline(identity: string): readonly AuditEntry[] {
    return this.books.get(identity)?.entries ?? [];
  }

  /** A control's audit record, once Warden has written it. */
  control(id: string): AuditEntry | undefined {
    return this.controls.get(id);
  }

  /** Identities with a suspend command at or after `sinceTs` (event time), with their latest such command and what followed it. */
  suspendedSince(sinceTs: number): Array<{ identity: string; suspend: AuditEntry; after: AuditEntry[] }> {
    const out: Array<{ identity: string; suspend: AuditEntry; after: AuditEntry[] }> = [];
    for (const [identity, book] of this.books) {
      const i = book.entries.findLastIndex((e) => e.kind === 'command' && e.record.type === 'suspend' && e.ts >= sinceTs);
      if (i < 0) continue;
      out.push({ identity, suspend: book.entries[i]!, after: book.entries.slice(i + 1).filter((e) => e.kind === 'command' && e.record.type === 'resume') });
    }
    return out.sort((a, b) => b.suspend.ts - a.suspend.ts);
  }
}
