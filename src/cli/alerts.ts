import { loadAlertsConfig } from '../alerts/config.js';
import { listDeadLetters, redriveDeadLetters, selectDeadLetters, type DeadLetter, type RedriveResult } from '../alerts/dead-letters.js';
import { ConfigError } from '../config/errors.js';
import { errorMessage, WardenError } from '../errors.js';
import { validatePrefix } from '../state/keys.js';
import { createRedis, DEFAULT_REDIS_URL, type RedisClient } from '../state/redis-connection.js';
import { parse } from './args.js';
import { printable } from './fit-table.js';

const USAGE = `usage: warden alerts dead list [--receiver NAME]... [--json]
       warden alerts dead redrive (--all | --id ID... | --receiver NAME...) [--config DIR] [--json]

Alerts (and PagerDuty resolves) the service gave up delivering, kept in Redis
(REDIS_URL, WARDEN_REDIS_PREFIX) per receiver, the newest 10,000 each.

list     every dead letter, oldest first per receiver: when it was given up,
         receiver, alert id (its first 16 characters), what it was, identity,
         attempts, last HTTP status and why. --json: the stored entries, one
         per line.
redrive  sends the letters again, once each, to their receiver as DIR/alerts.yaml
         has it now (DIR: --config, default ./config; its secretEnv and
         routingKeyEnv variables must be set), signed afresh, with the same
         alert id (receivers deduplicate on it). A delivered letter is removed;
         one that fails is kept and listed with its code, and the exit code is 1.
         --all: every letter; --id: the letters with that alert id (or its
         first 8+ characters), repeatable; --receiver: that receiver's letters,
         repeatable (with --id: both must match).`;

const OPTIONS = {
  receiver: { type: 'string', multiple: true },
  id: { type: 'string', multiple: true },
  all: { type: 'boolean' },
  json: { type: 'boolean' },
  config: { type: 'string', short: 'c', default: 'config' },
  help: { type: 'boolean', short: 'h' },
} as const;

const usage = (msg: string): WardenError => new WardenError('CLI_USAGE', `${msg}\n\n${USAGE}`);
const out = (s: string): void => void process.stdout.write(s);

const plural = (n: number, one: string): string => `${n} ${one}${n === 1 ? '' : 's'}`;

function describe(l: DeadLetter): string {
  const tried = [l.attempts === null ? null : plural(l.attempts, 'attempt'), l.status === null ? null : `HTTP ${l.status}`].filter(Boolean).join(', ');
  return printable(`${l.receiver}  ${l.alertId.slice(0, 16) || '?'}  ${l.what}  ${l.identity ?? '?'}  (${tried || 'no attempt recorded'}): ${l.reason}`);
}

function summary(letters: DeadLetter[]): string {
  const by = new Map<string, number>();
  for (const l of letters) by.set(l.receiver, (by.get(l.receiver) ?? 0) + 1);
  return `${plural(letters.length, 'dead letter')}: ${[...by].map(([r, n]) => `${r} ${n}`).join(', ')}`;
}

/** Redis failures say where, never as ioredis' unhandled error events. */
async function withRedis<T>(fn: (redis: RedisClient) => Promise<T>): Promise<T> {
  const url = process.env.REDIS_URL ?? DEFAULT_REDIS_URL;
  const redis = createRedis(url);
  redis.on('error', () => {});
  try {
    return await fn(redis);
  } catch (err) {
    if (err instanceof WardenError) throw err;
    throw new WardenError('STATE_REDIS', `Redis: ${errorMessage(err)} (check REDIS_URL)`, { cause: err });
  } finally {
    redis.disconnect();
  }
}

export async function alertsCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, OPTIONS, USAGE);
  if (values.help) {
    out(USAGE + '\n');
    return 0;
  }
  const [group, sub, ...rest] = positionals;
  if (group !== 'dead') throw usage(group === undefined ? 'alerts needs a command (dead list or dead redrive)' : `unknown alerts command "${group}" (dead list or dead redrive)`);
  if (sub !== 'list' && sub !== 'redrive') throw usage(sub === undefined ? 'alerts dead needs list or redrive' : `unknown alerts dead command "${sub}" (list or redrive)`);
  if (rest.length > 0) throw usage(`unexpected argument "${rest[0]}"`);
  const receivers = values.receiver ?? [];
  for (const r of receivers) if (!/^[a-z0-9-]+$/.test(r)) throw usage(`--receiver ${JSON.stringify(r)}: receiver names are [a-z0-9-]+`);
  const prefix = validatePrefix(process.env.WARDEN_REDIS_PREFIX ?? 'warden');

  if (sub === 'list') {
    if (values.id !== undefined || values.all) throw usage('--id and --all are for redrive');
    const letters = await withRedis((redis) => listDeadLetters(redis, prefix, receivers));
    if (values.json) for (const l of letters) out(JSON.stringify({ ...l.entry, receiver: l.receiver }) + '\n');
    else if (letters.length === 0) out('no dead letters\n');
    else {
      for (const l of letters) out(`${printable(l.at || '?')}  ${describe(l)}\n`);
      out(`${summary(letters)}\n`);
    }
    return 0;
  }

  const ids = values.id ?? [];
  if (values.all && (ids.length > 0 || receivers.length > 0)) throw usage('--all re-sends every letter: give it alone, or --id / --receiver');
  if (!values.all && ids.length === 0 && receivers.length === 0) throw usage('redrive needs --all, --id or --receiver');
  const loaded = await loadAlertsConfig(values.config);
  if (!loaded.ok) throw new ConfigError(loaded.issues);
  const results = await withRedis(async (redis) => {
    const all = await listDeadLetters(redis, prefix, receivers);
    const chosen = ids.length > 0 ? selectDeadLetters(all, ids) : all;
    return redriveDeadLetters(redis, prefix, loaded.config, chosen, {
      onResult: (r: RedriveResult) => out(values.json
        ? JSON.stringify({ result: r.result, receiver: r.letter.receiver, alertId: r.letter.alertId, status: r.status, code: r.code, reason: r.reason }) + '\n'
        : `${r.result === 'delivered' ? 'delivered' : 'failed   '}  ${describe(r.letter)}\n           -> ${printable(r.reason)}${r.code ? ` [${r.code}]; kept` : '; removed'}\n`),
    });
  });
  const failed = results.filter((r) => r.result === 'failed');
  if (results.length === 0) out(values.json ? '' : 'no dead letters\n');
  else if (!values.json) out(`re-sent ${results.length - failed.length} of ${plural(results.length, 'dead letter')}${failed.length ? `; ${failed.length} kept` : ''}\n`);
  if (failed.length > 0) throw new WardenError('ALERT_REDRIVE_FAILED', `${failed.length} of ${plural(results.length, 'dead letter')} not re-sent; they are kept`);
  return 0;
}
