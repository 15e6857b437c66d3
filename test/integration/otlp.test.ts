import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { diag, DiagLogLevel } from '@opentelemetry/api';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeEvent } from '../../src/event/codec.js';
import type { AgentEvent } from '../../src/event/types.js';
import { createProducer } from '../../src/producer/index.js';
import { provider, runAgent, type AgentRun } from '../otlp-sdk.js';
import { BROKERS, createTopic, kcatConsumeAll, startWardenCommand, startWarden, stopWarden, uniqueName, useServices, waitForGroupCaughtUp, type WardenProcess } from './helpers.js';
import { newRunOf } from './runs.js';

const run = promisify(execFile);
const prefixes = useServices();
const warnings: string[] = [];
diag.setLogger({ error: () => {}, warn: (...a: unknown[]) => warnings.push(a.map(String).join(' ')), info: () => {}, debug: () => {}, verbose: () => {} }, DiagLogLevel.WARN);

const T0 = Date.UTC(2026, 10, 20, 9, 0, 0);
let actions: string;
let configDir: string;
let otlp: WardenProcess;
let url: string;

beforeAll(async () => {
  // Three support-bots suspended at once would trip the fleet guard (alwaysAllow: 2) for whichever is third: class-wide
  // and order-dependent by design, so this config lets all three through to compare each with the others.
  configDir = await mkdtemp(join(tmpdir(), 'warden-otlp-cfg-'));
  await cp('config', configDir, { recursive: true });
  const detectors = join(configDir, 'detectors.yaml');
  const text = await readFile(detectors, 'utf8');
  expect(text).toContain('alwaysAllow: 2');
  await writeFile(detectors, text.replace('alwaysAllow: 2', 'alwaysAllow: 10'));
  actions = uniqueName('otlp-actions');
  await createTopic(actions, 3);
  // Bound identities: a manifest's identities glob gives the class, so gen_ai.agent.name is not sent as a claim.
  otlp = startWardenCommand(['otlp', '--port', '0', '--config', configDir], { WARDEN_TOPIC_ACTIONS: actions });
  const line = await otlp.waitForLog(/otlp: listening on/, 30_000);
  url = /listening on (http:\/\/\S+),/.exec(line)![1]!;
});
afterAll(async () => {
  if (otlp) expect(await stopWarden(otlp)).toBe(0);
  if (configDir) await rm(configDir, { recursive: true, force: true });
});

async function exportRuns(kind: 'json' | 'protobuf' | 'protobuf+gzip', runs: AgentRun[], resource?: Record<string, string>): Promise<void> {
  const exporter = kind === 'json' ? new JsonExporter({ url })
    : new ProtoExporter({ url, ...(kind === 'protobuf+gzip' ? { compression: 'gzip' } : {}) } as ConstructorParameters<typeof ProtoExporter>[0]);
  const p = provider(new BatchSpanProcessor(exporter), resource);
  for (const r of runs) runAgent(p.getTracer('agent-runtime'), r);
  await p.forceFlush();
  await p.shutdown();
}

function wardenOnce(args: string[], env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['bin/warden.js', ...args], { env: { ...process.env, KAFKA_BROKERS: BROKERS, ...env }, timeout: 60_000 }, (err, _stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stderr });
    });
  });
}

/** Every record on a topic as bytes: kcat's %K:%k%R%s frames each: the key's length in digits, the key, the value's as a 32-bit big-endian int, the value. */
async function consumeBinary(topic: string): Promise<Array<{ key: string; partition: number; value: Uint8Array }>> {
  const out: Array<{ key: string; partition: number; value: Uint8Array }> = [];
  for (const partition of [0, 1, 2]) {
    const { stdout } = await run('kcat', ['-b', BROKERS, '-C', '-t', topic, '-p', String(partition), '-o', 'beginning', '-e', '-q', '-f', '%K:%k%R%s'], { timeout: 60_000, encoding: 'buffer', maxBuffer: 1 << 24 });
    const b = stdout as unknown as Buffer;
    for (let at = 0; at < b.length;) {
      const colon = b.indexOf(0x3a, at);
      const kl = Number(b.subarray(at, colon).toString('latin1'));
      const key = b.subarray(colon + 1, colon + 1 + kl).toString('utf8');
      at = colon + 1 + kl;
      const vl = b.readInt32BE(at);
      out.push({ key, partition, value: new Uint8Array(b.subarray(at + 4, at + 4 + vl)) });
      at += 4 + vl;
    }
  }
  return out;
}

/** What a gateway would publish natively for the same calls. */
/** Runs Warden over the actions topic until caught up: its topics, its decisions, and per identity their shape (sorted, restatements left out). */
async function decideAll(actions: string): Promise<{ r: Awaited<ReturnType<typeof newRunOf>>; audit: Array<Record<string, unknown>>; of: (identity: string) => unknown[] }> {
  const r = await newRunOf(actions, prefixes);
  const warden = startWarden(r.env, configDir);
  try {
    await warden.waitForLog(/"msg":"consuming"/);
    await waitForGroupCaughtUp(r.group, actions);
  } finally {
    expect(await stopWarden(warden)).toBe(0);
  }
  const audit = (await kcatConsumeAll(r.decisions)).map((x) => JSON.parse(x.payload!) as Record<string, unknown>);
  return { r, audit, of: (identity) => audit.filter((d) => d.identity === identity && d.kind !== 'state').map(shape).sort() };
}

function nativeEvents(identity: string, calls: Array<{ action: string; resource: string; at: number }>): AgentEvent[] {
  return calls.map((c, i) => ({ id: `${identity}#${i}`, ts: c.at, identity, action: c.action, resource: c.resource, outcome: 'allowed' }));
}

/** A decision without what names the event it came from, to compare two identities' decisions. */
const shape = (d: Record<string, unknown>): string => JSON.stringify({ kind: d.kind, detector: d.detector, rule: d.rule, severity: d.severity, scope: d.scope, type: (d.command as { type?: string } | undefined)?.type });

describe('warden otlp with the OpenTelemetry JS SDK, against the real broker and Redis', () => {
  it('spans exported over OTLP/HTTP (JSON and protobuf) make the same decisions as the equivalent native events', async () => {
    const tag = Math.random().toString(36).slice(2, 8);
    const viaJson = `spiffe://acme.example/agent/support-bot/otel-json-${tag}`;
    const viaProto = `spiffe://acme.example/agent/support-bot/otel-proto-${tag}`;
    const native = `spiffe://acme.example/agent/support-bot/native-${tag}`;
    const calls = [
      { action: 'crm.read', resource: 'crm:customers/42', at: T0 + 10 },
      // Not in the support-bot manifest: outside-manifest, the identity is suspended.
      { action: 'vault.read', resource: 'vault:secrets/prod', at: T0 + 20 },
    ];
    const agent = (identity: string): AgentRun => ({
      agentId: identity, agentName: 'Support Bot', at: T0,
      tools: calls.map((c) => ({ tool: c.action, at: c.at, attrs: { 'warden.resource': c.resource } })),
    });
    await exportRuns('json', [agent(viaJson)], { 'service.name': 'support', 'service.instance.id': 'pod-1' });
    await exportRuns('protobuf', [agent(viaProto)]);
    // Both exports answered; the root agent spans are reported back as no agent action.
    expect(warnings.filter((w) => w.includes('Partial Success')).length).toBe(2);
    expect(warnings.find((w) => w.includes('Partial Success'))).toContain('"rejectedSpans":0');
    const producer = createProducer({ brokers: BROKERS.split(','), topic: actions, timeBounds: { maxAgeMs: 0 }, logger: undefined });
    await Promise.all(nativeEvents(native, calls).map((e) => producer.send(e)));
    await producer.close();

    // On the actions topic: msgpack events Warden decodes, keyed by identity, each identity on one partition, the class left to the binding.
    const got = await consumeBinary(actions);
    expect(got).toHaveLength(6);
    const partitionOf = new Map<string, Set<number>>();
    for (const m of got) partitionOf.set(m.key, (partitionOf.get(m.key) ?? new Set()).add(m.partition));
    expect([...partitionOf.keys()].sort()).toEqual([native, viaJson, viaProto].sort());
    for (const [k, ps] of partitionOf) expect(ps.size, k).toBe(1);
    const events = got.map((m) => {
      expect(m.value[0]! & 0xf0, 'a msgpack fixmap').toBe(0x80);
      const d = decodeEvent(m.value);
      if (!d.ok) throw new Error(d.error.message);
      expect(d.event.identity).toBe(m.key);
      return d.event;
    });
    const vault = events.find((e) => e.identity === viaJson && e.action === 'vault.read')!;
    expect(vault).toMatchObject({ ts: T0 + 20, resource: 'vault:secrets/prod', outcome: 'allowed', instance: 'pod-1', attrs: { agentName: 'Support Bot', service: 'support', tool: 'vault.read' } });
    expect(vault.agentClass).toBeUndefined();
    expect(vault.id).toBe(`${vault.correlationId}-${vault.id.slice(33)}`);

    const { r, audit, of } = await decideAll(actions);
    expect(of(native).length).toBeGreaterThan(0);
    expect(audit.filter((d) => d.identity === native && d.kind === 'detection').map((d) => [d.detector, d.rule]), JSON.stringify(audit)).toEqual([['scope', 'outside-manifest']]);
    expect(of(viaJson)).toEqual(of(native));
    expect(of(viaProto)).toEqual(of(native));
    // The decision names the span's event: trace id and span id.
    const found = audit.find((d) => d.identity === viaJson && d.kind === 'detection')!;
    expect(found.eventId).toMatch(/^[0-9a-f]{32}-[0-9a-f]{16}$/);
    const commands = (await kcatConsumeAll(r.commands)).map((x) => JSON.parse(x.payload!) as { type: string; identity: string; scope: string });
    for (const id of [native, viaJson, viaProto]) {
      expect(commands.filter((c) => c.identity === id && c.type === 'suspend').map((c) => c.scope), JSON.stringify(commands)).toEqual(['*']);
    }
  });

  it('a delegation chain from parent agent spans: each agent decided on as the same chain of native events', async () => {
    const tag = Math.random().toString(36).slice(2, 8);
    const names = (via: string) => ({
      o: `spiffe://acme.example/agent/ops-orchestrator/${via}-${tag}`,
      w1: `spiffe://acme.example/agent/ops-worker/${via}-1-${tag}`,
      w2: `spiffe://acme.example/agent/ops-worker/${via}-2-${tag}`,
      w3: `spiffe://acme.example/agent/ops-worker/${via}-3-${tag}`,
    });
    const otel = names('otel');
    const nat = names('native');
    // Orchestrator → worker → worker → worker: the last is 3 deep, over ops-worker's delegation.maxDepth 2.
    const t = (s: number) => T0 + 3_600_000 + s * 1000;
    await exportRuns('protobuf+gzip', [{
      agentId: otel.o, agentName: 'ops-orchestrator', at: t(0), tools: [],
      subAgents: [{ agentId: otel.w1, at: t(1), tools: [], subAgents: [{ agentId: otel.w2, at: t(2), tools: [], subAgents: [{
        agentId: otel.w3, at: t(3), tools: [{ tool: 'k8s.read', at: t(4), attrs: { 'warden.resource': 'k8s:prod/pods' } }],
      }] }] }],
    }]);
    const native: AgentEvent[] = [
      { id: 'n1', ts: t(1), identity: nat.o, action: 'agent.spawn', resource: `agent:${nat.w1}`, outcome: 'allowed' },
      { id: 'n2', ts: t(2), identity: nat.w1, action: 'agent.spawn', resource: `agent:${nat.w2}`, chain: [nat.o], outcome: 'allowed' },
      { id: 'n3', ts: t(3), identity: nat.w2, action: 'agent.spawn', resource: `agent:${nat.w3}`, chain: [nat.o, nat.w1], outcome: 'allowed' },
      { id: 'n4', ts: t(4), identity: nat.w3, action: 'k8s.read', resource: 'k8s:prod/pods', chain: [nat.o, nat.w1, nat.w2], outcome: 'allowed' },
    ];
    const producer = createProducer({ brokers: BROKERS.split(','), topic: actions, timeBounds: { maxAgeMs: 0 } });
    await Promise.all(native.map((e) => producer.send(e)));
    await producer.close();

    const mapped = (await consumeBinary(actions)).map((m) => decodeEvent(m.value)).flatMap((d) => (d.ok ? [d.event] : []));
    const w3 = mapped.find((e) => e.identity === otel.w3)!;
    expect(w3).toMatchObject({ action: 'k8s.read', resource: 'k8s:prod/pods', chain: [otel.o, otel.w1, otel.w2] });
    expect(mapped.find((e) => e.identity === otel.o)).toMatchObject({ action: 'agent.spawn', resource: `agent:${otel.w1}` });

    const { audit, of } = await decideAll(actions);
    expect(audit.filter((d) => d.identity === nat.w3 && d.kind === 'detection').map((d) => [d.detector, d.rule]), JSON.stringify(audit)).toContainEqual(['chain', 'depth']);
    for (const k of ['o', 'w1', 'w2', 'w3'] as const) expect(of(otel[k]), k).toEqual(of(nat[k]));
  });

  it('fails at start, exit 1, when the actions topic does not exist or the port is taken', async () => {
    const missing = uniqueName('otlp-missing');
    const a = await wardenOnce(['otlp', '--port', '0'], { WARDEN_TOPIC_ACTIONS: missing });
    expect(a.code).toBe(1);
    expect(a.stderr).toContain(`cannot reach topic ${missing}`);
    expect(a.stderr).toContain('[KAFKA_PUBLISH]');
    const port = new URL(url).port;
    const b = await wardenOnce(['otlp', '--port', port], { WARDEN_TOPIC_ACTIONS: actions });
    expect(b.code).toBe(1);
    expect(b.stderr).toContain(`warden otlp: cannot listen on 127.0.0.1:${port}: port ${port} is already in use (give --port another) [OTLP_LISTEN]`);
  });
});
