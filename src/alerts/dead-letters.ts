import { scanKeys, type RedisClient } from '../state/redis-connection.js';
import type { Detection } from '../detector.js';
import { errorMessage, WardenError, type ErrorCode } from '../errors.js';
import { deadLetterKey } from '../state/keys.js';
import type { AlertsConfig } from './config.js';
import { deliverOnce, type FetchImpl } from './deliver.js';
import { buildPayload, buildResolve, type Resolution } from './payload.js';
import { signWebhook } from './sign.js';

/** One alert (or PagerDuty resolve) the dispatcher gave up on, as kept in `<prefix>:alerts:dead:<receiver>`. */
export interface DeadLetter {
  receiver: string;
  alertId: string;
  kind: 'alert' | 'resolve' | 'malformed';
  /** When it was given up (wall time, ISO 8601). */
  at: string;
  attempts: number | null;
  status: number | null;
  reason: string;
  identity: string | null;
  detector: string | null;
  /** For an alert: `<decision> <detector>/<rule>`; for a resolve: `resolve <detector>`. */
  what: string;
  /** The stored entry as the dispatcher wrote it. */
  entry: Record<string, unknown>;
  /** The exact stored string: a redrive removes this one and no other. */
  raw: string;
}

export interface RedriveResult {
  letter: DeadLetter;
  result: 'delivered' | 'failed';
  /** HTTP status of the attempt, when there was an answer. */
  status: number | null;
  code: ErrorCode | null;
  reason: string;
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

function parseLetter(receiver: string, raw: string): DeadLetter {
  let entry: Record<string, unknown> = {};
  try {
    const v: unknown = JSON.parse(raw);
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) entry = v as Record<string, unknown>;
  } catch {
    // Kept as malformed: listed, never sent.
  }
  const d = entry.detection as Partial<Detection> | undefined;
  const r = entry.resolve as Partial<Resolution> | undefined;
  const base = {
    receiver, alertId: str(entry.alertId) ?? '', at: str(entry.at) ?? '', attempts: num(entry.attempts), status: num(entry.status),
    reason: str(entry.reason) ?? '', entry, raw,
  };
  const detectionOk = typeof d === 'object' && d !== null && ['identity', 'detector', 'rule', 'decision', 'eventId'].every((f) => typeof (d as Record<string, unknown>)[f] === 'string');
  if (detectionOk) return { ...base, kind: 'alert', identity: d.identity!, detector: d.detector!, what: `${d.decision} ${d.detector}/${d.rule}` };
  const resolveOk = typeof r === 'object' && r !== null && typeof r.identity === 'string' && typeof r.detector === 'string' && typeof r.commandId === 'string';
  if (resolveOk) return { ...base, kind: 'resolve', identity: r.identity!, detector: r.detector!, what: `resolve ${r.detector}` };
  return { ...base, kind: 'malformed', identity: null, detector: null, what: 'malformed' };
}

/** Receivers with dead letters under `prefix`, sorted. */
async function deadLetterReceivers(redis: RedisClient, prefix: string): Promise<string[]> {
  const head = deadLetterKey(prefix, '');
  const names = new Set<string>();
  // Every master's keys on a cluster.
  for await (const keys of scanKeys(redis, `${head}*`)) {
    for (const k of keys) {
      const name = k.slice(head.length);
      // Only a receiver's list: `<name>:count`, the total written before the count moved into the list's slot, is not one.
      if (/^[a-z0-9-]+$/.test(name)) names.add(name);
    }
  }
  return [...names].sort();
}

/** Every dead letter (of `receivers`, else of all), oldest first per receiver. */
export async function listDeadLetters(redis: RedisClient, prefix: string, receivers?: readonly string[]): Promise<DeadLetter[]> {
  const names = receivers === undefined || receivers.length === 0 ? await deadLetterReceivers(redis, prefix) : [...new Set(receivers)].sort();
  const out: DeadLetter[] = [];
  for (const name of names) {
    // Newest first in the list (LPUSH): reversed, so a redrive sends in the order they were given up.
    const items = await redis.lrange(deadLetterKey(prefix, name), 0, -1);
    for (const raw of items.reverse()) out.push(parseLetter(name, raw));
  }
  return out;
}

/**
 * The letters `ids` name (each a whole alert id or a prefix of at least 8
 * characters); an id that names none is refused before anything is sent.
 */
export function selectDeadLetters(letters: DeadLetter[], ids: readonly string[]): DeadLetter[] {
  for (const id of ids) {
    if (!/^[0-9a-f]{8,64}$/.test(id)) throw new WardenError('CLI_USAGE', `--id ${JSON.stringify(id)}: an alert id is 8 to 64 lowercase hex characters (its first 16 are shown by \`warden alerts dead list\`)`);
    if (!letters.some((l) => l.alertId.startsWith(id))) throw new WardenError('ALERT_DEAD_LETTER_NOT_FOUND', `no dead letter with alert id ${id}${letters.length === 0 ? ' (there are none)' : ''}; \`warden alerts dead list\` shows them`);
  }
  return letters.filter((l) => ids.some((id) => l.alertId.startsWith(id)));
}

export interface RedriveOptions {
  fetchImpl?: FetchImpl;
  now?: () => number;
  /** Called as each letter is done, for progress output. */
  onResult?: (r: RedriveResult) => void;
}

/**
 * Sends each letter again, once, to its receiver as `config` has it now
 * (URL, format, secret), signed afresh, with the same alert id. A delivered
 * letter is removed from Redis; one that fails stays where it was.
 */
export async function redriveDeadLetters(redis: RedisClient, prefix: string, config: AlertsConfig, letters: DeadLetter[], o: RedriveOptions = {}): Promise<RedriveResult[]> {
  const results: RedriveResult[] = [];
  // The same alert dead-lettered twice (redelivered after a restart) is sent once.
  const done = new Map<string, Omit<RedriveResult, 'letter'>>();
  for (const letter of letters) {
    const key = `${letter.receiver}\u0000${letter.alertId}`;
    const outcome = done.get(key) ?? (await redriveOne(config, letter, o));
    if (letter.kind !== 'malformed') done.set(key, outcome);
    if (outcome.result === 'delivered') await redis.lrem(deadLetterKey(prefix, letter.receiver), 1, letter.raw);
    const r = { letter, ...outcome };
    results.push(r);
    o.onResult?.(r);
  }
  return results;
}

async function redriveOne(config: AlertsConfig, letter: DeadLetter, o: RedriveOptions): Promise<Omit<RedriveResult, 'letter'>> {
  const failed = (code: ErrorCode, reason: string, status: number | null = null) => ({ result: 'failed' as const, status, code, reason });
  const r = config.receivers.find((x) => x.name === letter.receiver);
  if (r === undefined) return failed('ALERT_RECEIVER_UNKNOWN', `receiver "${letter.receiver}" is not in alerts.yaml`);
  if (letter.kind === 'malformed') return failed('ALERT_DEAD_LETTER_MALFORMED', 'the stored entry holds no detection or resolve');
  const built = letter.kind === 'alert'
    ? buildPayload(r, { detection: letter.entry.detection as Detection, folded: num(letter.entry.folded) ?? 0 })
    : buildResolve(r, letter.entry.resolve as Resolution);
  if (built === undefined) return failed('ALERT_RECEIVER_UNKNOWN', `receiver "${r.name}" is now format ${r.format}, which takes no resolves`);
  const sig = r.secret === null ? {} : signWebhook(r.secret, built.body, (o.now ?? Date.now)() / 1000, built.alertId);
  try {
    const out = await deliverOnce({
      url: r.url, body: built.body, headers: { 'X-Warden-Alert-Id': built.alertId, ...sig }, timeoutMs: r.timeoutMs, fetchImpl: o.fetchImpl,
    });
    if (out.kind === 'delivered') return { result: 'delivered', status: out.status, code: null, reason: `HTTP ${out.status}` };
    return failed(out.kind === 'retry' ? 'ALERT_ATTEMPT_FAILED' : 'ALERT_REJECTED', out.reason, out.status ?? null);
  } catch (err) {
    return failed('ALERT_ATTEMPT_FAILED', errorMessage(err));
  }
}
