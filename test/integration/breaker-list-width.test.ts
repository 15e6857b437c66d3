import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serializeBreaker } from '../../src/breaker/breaker.js';
import type { BreakerState } from '../../src/breaker/types.js';
import { RedisWindowStore } from '../../src/state/redis-store.js';
import { deletePrefix, REDIS_URL, requireRedis, uniqueName } from './helpers.js';

const execFileP = promisify(execFile);
const T0 = Date.UTC(2026, 10, 20, 3, 15, 0);
// Two identities that differ only in the middle, one short one, one with a terminal escape in it.
const tenantA = 'spiffe://acme.example/tenants/tenant-0001-aaaa/agent/support-bot/instance-0b09';
const tenantB = 'spiffe://acme.example/tenants/tenant-0001-bbbb/agent/support-bot/instance-0b09';
const short = 'bot-1';
const escaping = 'spiffe://x/agent/\u001b[31mred';
const reason = 'scope: vault.read on vault:secret/payments/42 is outside the support-bot manifest, which declares only crm and email';
const open: BreakerState = {
  '*': { phase: 'open', until: T0 + 3_600_000, probationUntil: T0 + 7_200_000, strikes: 1, closedAt: 0, reason, detector: 'scope', commandId: 'c-1', openedAt: T0 },
};

describe('warden breaker list fits the terminal (real Redis)', () => {
  let admin: Redis;
  let store: RedisWindowStore;
  const prefix = uniqueName('wt-bwidth');
  const list = (args: string[], columns?: number) => execFileP(process.execPath, ['bin/warden.js', 'breaker', 'list', ...args], {
    env: { ...process.env, REDIS_URL, WARDEN_REDIS_PREFIX: prefix, COLUMNS: columns === undefined ? '' : String(columns) },
  });

  beforeAll(async () => {
    admin = await requireRedis();
    store = new RedisWindowStore({ redis: admin.duplicate(), prefix });
    await store.start();
    const breakers = new Map([tenantA, tenantB, short, escaping].map((id) => [id, serializeBreaker(open)]));
    await store.commit({ partition: 'agent.actions:0', offset: 0n, breakers, outbox: [] });
  });

  afterAll(async () => {
    await deletePrefix(admin, prefix);
    await store.shutdown();
    await admin.quit();
  });

  it('shortens identities in the middle and reasons at the end, keeping identities distinct', async () => {
    const { stdout } = await list([], 120);
    const lines = stdout.trimEnd().split('\n');
    const rows = lines.slice(1, -1);
    expect(rows).toHaveLength(4);
    for (const l of lines) expect([...l].length, l).toBeLessThanOrEqual(120);
    expect(lines.at(-1)).toBe('(shortened to 120 columns: --wide or --json for whole identities and reasons)');
    const ids = rows.map((r) => r.split('  ')[0]!.trim());
    expect(new Set(ids).size).toBe(4);
    expect(ids).toContain(short);
    const a = ids.find((i) => i.includes('aaaa'));
    const b = ids.find((i) => i.includes('bbbb'));
    // The look-alikes are shortened around where they differ, so each still reads as itself.
    expect(a).toMatch(/^spiff.*….*aaaa.*….*0b09$/);
    expect(b).toMatch(/^spiff.*….*bbbb.*….*0b09$/);
    expect(stdout).not.toContain('\u001b');
    expect(stdout).toContain('\\u001b[31mred');
    for (const r of rows) expect(r).toMatch(/  scope: vau.*…$/);
  });

  it('prints whole identities and reasons with --wide, when piped, and in --json', async () => {
    for (const out of [(await list(['--wide'], 120)).stdout, (await list([])).stdout]) {
      expect(out).toContain(tenantA);
      expect(out).toContain(tenantB);
      expect(out).toContain(reason);
      expect(out).not.toContain('…');
    }
    const json = (await list(['--json'], 120)).stdout.trim().split('\n').map((l) => JSON.parse(l).identity);
    expect(json.sort()).toEqual([tenantA, tenantB, short, escaping].sort());
  });
});
