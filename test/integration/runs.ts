import { Writable } from 'node:stream';
import type { Redis } from 'ioredis';
import type { RedisClient } from '../../src/state/redis-connection.js';
import { expect } from 'vitest';
import { keyringFromEnv } from '../../src/commands/keyring.js';
import { openCommand } from '../../src/commands/sign.js';
import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import type { AgentEvent } from '../../src/event/types.js';
import { replay } from '../../src/pipeline/replay.js';
import type { TimeBounds } from '../../src/event/time.js';
import { createTopic, dumpState, kcatConsumeAll, TEST_COMMAND_KEYS, uniqueName } from './helpers.js';

/** One `warden run`'s own group, Redis prefix and output topics, on a shared actions topic. */
export interface Run { env: Record<string, string>; group: string; prefix: string; decisions: string; commands: string; dlq: string }

/** Creates the run's output topics; its prefix is pushed onto `prefixes` for the caller to delete. */
export async function newRunOf(actions: string, prefixes: string[]): Promise<Run> {
  const id = uniqueName('run');
  const run: Run = { group: `g-${id}`, prefix: `wt-${id}`, decisions: `d-${id}`, commands: `c-${id}`, dlq: `q-${id}`, env: {} };
  prefixes.push(run.prefix);
  await createTopic(run.decisions, 3);
  await createTopic(run.commands, 3, true);
  await createTopic(run.dlq, 1);
  run.env = {
    WARDEN_TOPIC_ACTIONS: actions, WARDEN_TOPIC_DECISIONS: run.decisions, WARDEN_TOPIC_COMMANDS: run.commands, WARDEN_TOPIC_DLQ: run.dlq,
    KAFKA_GROUP_ID: run.group, WARDEN_REDIS_PREFIX: run.prefix, KAFKA_SESSION_TIMEOUT_MS: '6000',
  };
  return run;
}

/** Compares two runs' Redis state key by key (each on its own Redis, or the same), so a failure names the keys that differ. */
export async function expectSameStateOf(redisA: RedisClient, a: string, redisB: RedisClient, b: string, rename?: [string, string]): Promise<void> {
  // Fleet-guard counts ({f}) and class counters ({c}) are shared by all partitions, and a redelivered batch adds to
  // a class again: approximate by design (README "Fleet guard", docs/design.md "Class baselines"). Each run's
  // epoch marker is its own (src/state/epoch.ts).
  const exact = (d: Record<string, unknown>): Record<string, unknown> =>
    Object.fromEntries(Object.entries(d).filter(([k]) => !k.startsWith(':{f}:') && !k.startsWith(':{c}:') && k !== ':epoch'));
  const [raw, sb] = [exact(await dumpState(redisA, a)), exact(await dumpState(redisB, b))];
  // State of another topic's partitions lives under its name: compare partition by partition.
  const sa = rename ? Object.fromEntries(Object.entries(raw).map(([k, v]) => [k.replace(`{p:${rename[0]}:`, `{p:${rename[1]}:`), v])) : raw;
  expect(Object.keys(sa).sort()).toEqual(Object.keys(sb).sort());
  const differing = Object.keys(sa).filter((k) => JSON.stringify(sa[k]) !== JSON.stringify(sb[k]));
  const detail = differing.slice(0, 5).map((k) => {
    const [x, y] = [sa[k] as Record<string, unknown>, sb[k] as Record<string, unknown>];
    if (typeof x !== 'object' || Array.isArray(x)) return [k, x, y];
    const fields = [...new Set([...Object.keys(x), ...Object.keys(y)])].filter((f) => x[f] !== y[f]);
    return [k, Object.fromEntries(fields.map((f) => [f, [x[f], y[f]]]))];
  });
  expect(detail).toEqual([]);
}

const byKey = (r: Record<string, unknown>): string => `${r.eventId}|${r.detector}|${r.rule}|${r.kind}|${r.commandId}`;

/** Output records of a run, each once; a republished record must be byte-identical to the first. */
export async function outputs(run: Run): Promise<{ decisions: string[]; commands: string[]; duplicates: number }> {
  let duplicates = 0;
  const collect = (payloads: Array<string | null>): string[] => {
    const seen = new Map<string, string>();
    const out: string[] = [];
    for (const p of payloads) {
      const rec = JSON.parse(p!) as Record<string, unknown>;
      const key = byKey(rec);
      const prior = seen.get(key);
      if (prior !== undefined) {
        duplicates++;
        expect(p).toBe(prior);
        continue;
      }
      seen.set(key, p!);
      out.push(p!);
    }
    return out.sort();
  };
  // The audit topic holds the detections and, beside them, every command.
  const audit = collect((await kcatConsumeAll(run.decisions)).map((r) => r.payload));
  const decisions = audit.filter((p) => JSON.parse(p).kind === 'detection');
  const auditCommands = audit.filter((p) => JSON.parse(p).kind === 'command');
  // Replay output is unsigned; the service's commands must verify, and then compare without kid/sig.
  const keyring = keyringFromEnv({ WARDEN_COMMAND_KEYS: TEST_COMMAND_KEYS });
  if (!keyring.ok) throw new Error(keyring.reason);
  // Restatements (`state`, re-published on start and on an interval) are not decisions: the audit topic has none.
  const commands = collect((await kcatConsumeAll(run.commands)).map((r) => r.payload).filter((p) => JSON.parse(p!).type !== 'state')).map((p) => {
    expect(openCommand(p, keyring.keyring).ok).toBe(true);
    const { kid: _kid, sig: _sig, ...rest } = JSON.parse(p) as Record<string, unknown>;
    return JSON.stringify(rest);
  }).sort();
  expect(auditCommands.map((p) => {
    const { kid: _kid, sig: _sig, ...rest } = JSON.parse(p) as Record<string, unknown>;
    return JSON.stringify(rest);
  }).sort()).toEqual(commands);
  return { decisions, commands, duplicates };
}

let exact: Promise<string> | undefined;

/**
 * The shipped config without class baselines: class counters are shared by
 * all partitions and approximate live (docs/design.md), so a comparison of a
 * multi-partition service with replay, decision for decision, runs without them.
 */
export function exactConfigDir(): Promise<string> {
  exact ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'warden-exact-config-'));
    await cp('config', dir, { recursive: true });
    const file = join(dir, 'detectors.yaml');
    const text = await readFile(file, 'utf8');
    const off = text.replace(/    peers:\n      enabled: true\n/, '    peers:\n      enabled: false\n');
    if (off === text) throw new Error('exactConfigDir: no "peers: enabled: true" in config/detectors.yaml to turn off');
    await writeFile(file, off);
    return dir;
  })();
  return exact;
}

/** `timeBounds`: the recording clock's bounds (replay's defaults unless given). */
export async function replayExpected(events: AgentEvent[], configDir = 'config', timeBounds?: TimeBounds): Promise<{ decisions: string[]; commands: string[] }> {
  const lines: string[] = [];
  let buf = '';
  const output = new Writable({ write(chunk, _e, cb) { buf += chunk.toString(); cb(); } });
  async function* records() {
    for (const [index, event] of events.entries()) yield { index, result: { ok: true as const, event, encoding: 'json' as const } };
  }
  await replay({ records: records(), config: await loadConfig(configDir), output, ...(timeBounds ? { timeBounds } : {}) });
  for (const l of buf.trim().split('\n')) lines.push(l);
  const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  return {
    decisions: parsed.filter((r) => r.kind === 'detection').map((r) => JSON.stringify(r)).sort(),
    commands: parsed.filter((r) => r.kind === 'command').map((r) => JSON.stringify(r)).sort(),
  };
}
