import { describe, expect, it } from 'vitest';
import { mapSpans } from '../../src/otlp/map.js';
import { spansOf, type OtlpSpan } from '../../src/otlp/spans.js';

/** OTLP JSON as the SDKs write it: hex ids, KeyValue attributes, int64 as strings. */
type A = Record<string, string | number | boolean>;
const kv = (a: A) => Object.entries(a).map(([key, v]) => ({
  key,
  value: typeof v === 'string' ? { stringValue: v } : typeof v === 'boolean' ? { boolValue: v } : Number.isInteger(v) ? { intValue: String(v) } : { doubleValue: v },
}));
const TRACE = '5b8efff798038103d269b633813fc60c';
const T0 = 1_790_000_000_000;
let n = 0;
function span(attrs: A, o: { id?: string; parent?: string; name?: string; status?: number; startMs?: number; trace?: string } = {}) {
  return {
    traceId: o.trace ?? TRACE, spanId: o.id ?? (++n).toString(16).padStart(16, '0'), parentSpanId: o.parent ?? '',
    name: o.name ?? 'span', kind: 1, startTimeUnixNano: String(BigInt(o.startMs ?? T0) * 1_000_000n + 123_456n), endTimeUnixNano: String(BigInt(T0 + 5) * 1_000_000n),
    attributes: kv(attrs), ...(o.status === undefined ? {} : { status: { code: o.status, message: 'tool failed' } }),
  };
}
const request = (spans: unknown[], resource: A = { 'service.name': 'support', 'service.instance.id': 'pod-7' }) => ({
  resourceSpans: [{ resource: { attributes: kv(resource) }, scopeSpans: [{ scope: { name: 'agent-sdk' }, spans }] }],
});
const map = (req: unknown, isBound?: (id: string) => boolean): ReturnType<typeof mapSpans> => mapSpans(spansOf(req, 'json'), { isBound });

const BOT = 'spiffe://acme.example/agent/support-bot/7f3a';
const ORCH = 'spiffe://acme.example/agent/ops-orchestrator/1';
const WORKER = 'spiffe://acme.example/agent/ops-worker/9';

describe('OTLP GenAI spans to Warden events', () => {
  it('maps a tool span under its agent span: identity, class, action, resource, time, outcome, ids', () => {
    const agent = span({ 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.agent.id': BOT, 'gen_ai.agent.name': 'support-bot' }, { id: 'a000000000000001', name: 'invoke_agent support-bot' });
    const tool = span({ 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'email.send', 'gen_ai.tool.call.id': 'call_1', 'gen_ai.conversation.id': 'conv-9' }, { id: 'a000000000000002', parent: 'a000000000000001', name: 'execute_tool email.send', startMs: T0 + 40 });
    const [a, t] = map(request([agent, tool]));
    expect(a).toMatchObject({ ok: false, skip: 'agent' });
    expect(t).toEqual({
      ok: true,
      event: {
        id: `${TRACE}-a000000000000002`, ts: T0 + 40, identity: BOT, action: 'email.send', resource: 'tool:email.send', agentClass: 'support-bot',
        instance: 'pod-7', task: 'conv-9', correlationId: TRACE, outcome: 'allowed',
        attrs: { span: 'execute_tool email.send', operation: 'execute_tool', tool: 'email.send', toolCallId: 'call_1', agentName: 'support-bot', service: 'support' },
      },
    });
  });

  it('takes the event time from the span start, truncated to ms, not the wall clock', () => {
    const [r] = map(request([span({ 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'x', 'gen_ai.agent.id': BOT }, { startMs: 1_000_000_000_123 })]));
    expect(r!.ok && r!.event.ts).toBe(1_000_000_000_123);
  });

  it('an ERROR status (or error.type) is outcome error', () => {
    const [e, t] = map(request([
      span({ 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'x', 'gen_ai.agent.id': BOT }, { status: 2 }),
      span({ 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'x', 'gen_ai.agent.id': BOT, 'error.type': 'timeout' }, { status: 1 }),
    ]));
    expect(e!.ok && e!.event).toMatchObject({ outcome: 'error', attrs: { statusMessage: 'tool failed' } });
    expect(t!.ok && t!.event).toMatchObject({ outcome: 'error', attrs: { errorType: 'timeout' } });
  });

  it('a sub-agent invoked by an agent: the invocation is the parent spawning the child, and the child acts with the parent in its chain', () => {
    const root = span({ 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.agent.id': ORCH, 'gen_ai.agent.name': 'ops-orchestrator' }, { id: 'b000000000000001' });
    const mid = span({ 'http.method': 'GET' }, { id: 'b000000000000002', parent: 'b000000000000001', name: 'GET /plan' });
    const sub = span({ 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.agent.id': WORKER, 'gen_ai.agent.name': 'ops-worker' }, { id: 'b000000000000003', parent: 'b000000000000002' });
    const tool = span({ 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'k8s.read', 'server.address': 'k8s.staging', 'server.port': 6443 }, { id: 'b000000000000004', parent: 'b000000000000003' });
    const [r0, r1, r2, r3] = map(request([tool, sub, mid, root]));
    expect(r3).toMatchObject({ ok: false, skip: 'agent' });
    expect(r2).toMatchObject({ ok: false, skip: 'not-genai' });
    expect(r1!.ok && r1!.event).toMatchObject({ identity: ORCH, agentClass: 'ops-orchestrator', action: 'agent.spawn', resource: `agent:${WORKER}` });
    expect(r1!.ok && r1!.event.chain).toBeUndefined();
    expect(r0!.ok && r0!.event).toMatchObject({ identity: WORKER, agentClass: 'ops-worker', chain: [ORCH], action: 'k8s.read', resource: 'k8s.staging:6443' });
  });

  it('three levels deep: the chain is root first, ending with the direct parent; a nested span of the same agent adds no level', () => {
    const ids = ['c000000000000001', 'c000000000000002', 'c000000000000003', 'c000000000000004', 'c000000000000005'];
    const spans = [
      span({ 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.agent.id': 'A' }, { id: ids[0] }),
      span({ 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.agent.id': 'B' }, { id: ids[1], parent: ids[0] }),
      span({ 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.agent.id': 'B' }, { id: ids[2], parent: ids[1] }),
      span({ 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.agent.id': 'C' }, { id: ids[3], parent: ids[2] }),
      span({ 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'db.read' }, { id: ids[4], parent: ids[3] }),
    ];
    const r = map(request(spans));
    expect(r.map((x) => (x.ok ? `${x.event.identity}:${x.event.action}:${(x.event.chain ?? []).join('>')}` : 'skip' in x ? x.skip : x.error.code))).toEqual([
      'agent', 'A:agent.spawn:', 'agent', 'B:agent.spawn:A', 'C:db.read:A>B',
    ]);
  });

  it('a tool span naming its own agent id is that agent; with no agent at all, the workload SPIFFE ID acts', () => {
    const own = span({ 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'crm.read', 'gen_ai.agent.id': BOT });
    const bare = span({ 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'crm.read' });
    const [a] = map(request([own]));
    expect(a!.ok && a!.event.identity).toBe(BOT);
    const [b] = map(request([bare], { 'spiffe.id': 'spiffe://acme.example/ns/prod/sa/bot' }));
    expect(b!.ok && b!.event).toMatchObject({ identity: 'spiffe://acme.example/ns/prod/sa/bot' });
    expect(b!.ok && b!.event.agentClass).toBeUndefined();
    // An agent span without gen_ai.agent.id stands for the workload too.
    const agent = span({ 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.agent.name': 'support-bot' }, { id: 'd000000000000001' });
    const tool = span({ 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'crm.read' }, { parent: 'd000000000000001' });
    const [, c] = map(request([agent, tool], { 'spiffe.id': BOT }));
    expect(c!.ok && c!.event).toMatchObject({ identity: BOT, agentClass: 'support-bot' });
  });

  it('no identity anywhere is OTLP_NO_IDENTITY, a resource attribute that is no SPIFFE ID does not count', () => {
    const [r] = map(request([span({ 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'x' })], { 'spiffe.id': 'bot-7' }));
    expect(r).toMatchObject({ ok: false, error: { code: 'OTLP_NO_IDENTITY', field: 'gen_ai.agent.id' } });
  });

  it('a bound identity is sent without gen_ai.agent.name as its class (its manifest decides)', () => {
    const s = span({ 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'x', 'gen_ai.agent.id': BOT, 'gen_ai.agent.name': 'Support Bot v2' });
    const [bound] = map(request([s]), (id) => id === BOT);
    expect(bound!.ok && bound!.event.agentClass).toBeUndefined();
    expect(bound!.ok && bound!.event.attrs).toMatchObject({ agentName: 'Support Bot v2' });
    const [unbound] = map(request([s]), () => false);
    expect(unbound!.ok && unbound!.event.agentClass).toBe('Support Bot v2');
  });

  it('MCP: tools/call is the tool, other methods are mcp:<method> on their resource, session upkeep is skipped', () => {
    const [call, read, prompt, init, note, list] = map(request([
      span({ 'mcp.method.name': 'tools/call', 'gen_ai.tool.name': 'search_issues', 'gen_ai.operation.name': 'execute_tool', 'gen_ai.agent.id': BOT, 'mcp.session.id': 's1' }),
      span({ 'mcp.method.name': 'resources/read', 'mcp.resource.uri': 'file:///etc/passwd', 'gen_ai.agent.id': BOT }),
      span({ 'mcp.method.name': 'prompts/get', 'gen_ai.prompt.name': 'triage', 'gen_ai.agent.id': BOT }),
      span({ 'mcp.method.name': 'initialize', 'gen_ai.agent.id': BOT }),
      span({ 'mcp.method.name': 'notifications/initialized', 'gen_ai.agent.id': BOT }),
      span({ 'mcp.method.name': 'tools/list', 'gen_ai.agent.id': BOT }),
    ]));
    expect(call!.ok && call!.event).toMatchObject({ action: 'search_issues', resource: 'tool:search_issues', attrs: { mcpMethod: 'tools/call', mcpSession: 's1' } });
    expect(read!.ok && read!.event).toMatchObject({ action: 'mcp:resources/read', resource: 'file:///etc/passwd' });
    expect(prompt!.ok && prompt!.event).toMatchObject({ action: 'mcp:prompts/get', resource: 'prompt:triage' });
    expect(init).toMatchObject({ ok: false, skip: 'mcp-session' });
    expect(note).toMatchObject({ ok: false, skip: 'mcp-session' });
    expect(list).toMatchObject({ ok: false, skip: 'mcp-session' });
  });

  it('model calls are skipped as inference; other operations act under their own name', () => {
    const [chat, retrieval] = map(request([
      span({ 'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'gpt-4o', 'gen_ai.agent.id': BOT }),
      span({ 'gen_ai.operation.name': 'retrieval', 'gen_ai.data_source.id': 'kb-42', 'gen_ai.agent.id': BOT }),
    ]));
    expect(chat).toMatchObject({ ok: false, skip: 'inference' });
    expect(retrieval!.ok && retrieval!.event).toMatchObject({ action: 'retrieval', resource: 'data-source:kb-42' });
  });

  it('warden.resource, when the instrumentation sets it, is the resource', () => {
    const [r] = map(request([span({ 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'crm.read', 'gen_ai.agent.id': BOT, 'warden.resource': 'crm:customers/42', 'server.address': 'crm' })]));
    expect(r!.ok && r!.event.resource).toBe('crm:customers/42');
  });

  it('a span with bad ids or no start time is OTLP_SPAN_INVALID, naming the field; the others still map', () => {
    const good = span({ 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'x', 'gen_ai.agent.id': BOT });
    const r = map(request([
      { ...good, traceId: 'zz' },
      { ...good, spanId: '0000000000000000' },
      { ...good, startTimeUnixNano: undefined },
      { ...good, startTimeUnixNano: '-5' },
      good,
    ]));
    expect(r.map((x) => (x.ok ? 'ok' : 'error' in x ? x.error.message : x.skip))).toEqual([
      'traceId "zz" is not 16 bytes of hex',
      'an all-zero traceId or spanId is invalid',
      'startTimeUnixNano is missing',
      'startTimeUnixNano is not an unsigned integer of nanoseconds',
      'ok',
    ]);
    expect(r[0]).toMatchObject({ ok: false, error: { code: 'OTLP_SPAN_INVALID' } });
  });

  it('an agent span with a bad time is rejected, and still names the agent for the spans under it', () => {
    const agent = { ...span({ 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.agent.id': BOT }, { id: '1000000000000001' }), startTimeUnixNano: undefined };
    const tool = span({ 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'x' }, { parent: '1000000000000001' });
    const [a, t] = map(request([agent, tool]));
    expect(a).toMatchObject({ ok: false, error: { code: 'OTLP_SPAN_INVALID' } });
    expect(t!.ok && t!.event.identity).toBe(BOT);
  });

  it('a mapped event is held to the event format: a tool name over 2048 bytes is EVENT_FIELD_TOO_LONG', () => {
    const [r] = map(request([span({ 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'x'.repeat(3000), 'gen_ai.agent.id': BOT })]));
    expect(r).toMatchObject({ ok: false, error: { code: 'EVENT_FIELD_TOO_LONG', field: 'action' } });
  });

  it('parents are looked up within one trace: the same span id in another trace is not a parent', () => {
    const other = '0af7651916cd43dd8448eb211c80319c';
    const agent = span({ 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.agent.id': BOT }, { id: 'e000000000000001', trace: other });
    const tool = span({ 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'x' }, { parent: 'e000000000000001' });
    expect(map(request([agent, tool]))[1]).toMatchObject({ ok: false, error: { code: 'OTLP_NO_IDENTITY' } });
  });

  it('a span that is its own ancestor (a malformed trace) ends its walk instead of looping', () => {
    const a = span({ 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'x', 'gen_ai.agent.id': BOT }, { id: 'f000000000000001', parent: 'f000000000000002' });
    const b = span({ 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.agent.id': ORCH }, { id: 'f000000000000002', parent: 'f000000000000001' });
    const r = map(request([a, b]));
    expect(r[0]!.ok && r[0]!.event.identity).toBe(BOT);
  });

  it('reads every AnyValue kind; the spans keep their resource and scope', () => {
    const s = span({ 'gen_ai.operation.name': 'execute_tool' });
    (s.attributes as unknown[]).push(
      { key: 'arr', value: { arrayValue: { values: [{ stringValue: 'a' }, { intValue: 3 }] } } },
      { key: 'map', value: { kvlistValue: { values: [{ key: 'k', value: { boolValue: false } }] } } },
      { key: 'big', value: { intValue: '9007199254740993' } },
      { key: 'bin', value: { bytesValue: 'AQI=' } },
    );
    const [got] = spansOf(request([s]), 'json') as OtlpSpan[];
    expect(got!.attributes).toMatchObject({ arr: ['a', 3], map: { k: false }, big: '9007199254740993', bin: Buffer.from([1, 2]) });
    expect(got!.resource['service.name']).toBe('support');
    expect(got!.scope).toBe('agent-sdk');
  });
});
