import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'warden-replay-binding-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const GATEWAY_CONFIG = 'examples/gateway/config';
const BOT = 'spiffe://acme.example/agent/support-bot/7f3a';
const T0 = Date.UTC(2026, 10, 2, 9);

/** Events as examples/gateway/gateway.mjs publishes them: no agentClass. */
const gatewayEvent = (i: number, identity: string, action: string, resource: string) => ({ id: `g${i}`, ts: T0 + i * 1000, identity, action, resource, outcome: 'allowed' });

async function replayLines(config: string, events: object[]): Promise<Array<Record<string, unknown>>> {
  const input = join(dir, `in-${Math.random().toString(36).slice(2)}.jsonl`);
  const output = `${input}.out`;
  await writeFile(input, events.map((e) => JSON.stringify(e)).join('\n') + '\n');
  const quiet = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    expect(await main(['replay', '--input', input, '--config', config, '--output', output, '--quiet'])).toBe(0);
  } finally {
    quiet.mockRestore();
  }
  return (await readFile(output, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

const EVENTS = [
  gatewayEvent(0, BOT, 'crm.read', 'crm:customers/1'),
  gatewayEvent(1, BOT, 'crm.read', 'hr:salaries/42'),
  gatewayEvent(2, 'spiffe://acme.example/agent/intern/1', 'crm.read', 'crm:customers/1'),
  gatewayEvent(3, 'spiffe://acme.example/agent/intern/1', 'crm.read', 'crm:customers/2'),
];

describe('warden replay of what the example gateway forwards', () => {
  it('judges an event without agentClass from a bound identity against its manifest, and reports an unbound one once', async () => {
    const out = await replayLines(GATEWAY_CONFIG, EVENTS);
    const detections = out.filter((r) => r.kind === 'detection');
    expect(detections.map((d) => [d.identity, d.detector, d.rule, d.decision, d.agentClass])).toEqual([
      [BOT, 'scope', 'outside-manifest', 'suspend', 'support-bot'],
      ['spiffe://acme.example/agent/intern/1', 'scope', 'unknown-class', 'alert', null],
    ]);
    expect(detections[0]!.evidence).toMatchObject({ limit: 'support-bot', manifest: join(GATEWAY_CONFIG, 'agents/support-bot.yaml') });
    expect(out.filter((r) => r.kind === 'command').map((c) => [c.type, c.identity])).toEqual([['suspend', BOT]]);
  });

  it('without the binding, the same traffic is judged against no manifest: the salary read goes unjudged', async () => {
    const unbound = join(dir, 'unbound');
    await mkdir(join(unbound, 'agents'), { recursive: true });
    const manifest = await readFile(join(GATEWAY_CONFIG, 'agents/support-bot.yaml'), 'utf8');
    await writeFile(join(unbound, 'agents/support-bot.yaml'), manifest.replace(/^identities:\n(  - .*\n)+/m, ''));
    const out = await replayLines(unbound, EVENTS);
    expect(out.filter((r) => r.kind === 'detection').map((d) => [d.identity, d.rule])).toEqual([
      [BOT, 'unknown-class'],
      ['spiffe://acme.example/agent/intern/1', 'unknown-class'],
    ]);
    expect(out.filter((r) => r.kind === 'command')).toEqual([]);
  });
});
