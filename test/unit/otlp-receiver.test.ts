import { gzipSync } from 'node:zlib';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import protobuf from 'protobufjs';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WardenError } from '../../src/errors.js';
import type { AgentEvent } from '../../src/event/types.js';
import { decodeBody, OtlpReceiver, type EventSink } from '../../src/otlp/receiver.js';
import { recordedSpans, type AgentRun } from '../otlp-sdk.js';

const BOT = 'spiffe://acme.example/agent/support-bot/7f3a';
const T0 = Date.UTC(2026, 10, 20, 9, 0, 0);
const RUN: AgentRun = {
  agentId: BOT, agentName: 'support-bot', at: T0,
  tools: [{ tool: 'crm.read', at: T0 + 10, attrs: { 'server.address': 'crm' } }, { tool: 'email.send', at: T0 + 20, error: true }],
};

class Sink implements EventSink {
  events: AgentEvent[] = [];
  fail?: WardenError;
  async send(event: AgentEvent): Promise<void> {
    if (this.fail) throw this.fail;
    this.events.push(event);
  }
}

const sink = new Sink();
const receiver = new OtlpReceiver({ sink, logger: pino({ level: 'silent' }), maxBodyBytes: 64 * 1024 });
let server: Awaited<ReturnType<OtlpReceiver['listen']>>;
let url: string;
beforeAll(async () => {
  server = await receiver.listen(0, '127.0.0.1');
  url = `http://127.0.0.1:${server.port}`;
});
afterAll(() => server.close());

const post = (body: Uint8Array | string, headers: Record<string, string>, path = '/v1/traces') => fetch(url + path, { method: 'POST', body, headers });

async function sdkBody(kind: 'json' | 'protobuf', runs: AgentRun[] = [RUN], resource?: Record<string, string>): Promise<Uint8Array> {
  const spans = await recordedSpans(runs, resource);
  return (kind === 'json' ? JsonTraceSerializer : ProtobufTraceSerializer).serializeRequest(spans)!;
}

/** google.rpc.Status, to read a protobuf error body as a client would. */
const Status = new protobuf.Type('Status').add(new protobuf.Field('code', 1, 'int32')).add(new protobuf.Field('message', 2, 'string'));
new protobuf.Root().add(Status);

describe('warden otlp: POST /v1/traces', () => {
  it('takes OTLP JSON from the SDK serializer: each tool span an event, the root agent span reported as no action', async () => {
    sink.events = [];
    const res = await post(await sdkBody('json'), { 'content-type': 'application/json' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    const body = await res.json();
    expect(body).toEqual({ partialSuccess: { rejectedSpans: 0, errorMessage: '1 span is no agent action, not published (agent 1)' } });
    expect(sink.events.map((e) => [e.identity, e.agentClass, e.action, e.resource, e.ts, e.outcome])).toEqual([
      [BOT, 'support-bot', 'crm.read', 'crm', T0 + 10, 'allowed'],
      [BOT, 'support-bot', 'email.send', 'tool:email.send', T0 + 20, 'error'],
    ]);
  });

  it('takes protobuf, gzip or not, and answers an ExportTraceServiceResponse in protobuf', async () => {
    for (const gz of [false, true]) {
      sink.events = [];
      const raw = await sdkBody('protobuf');
      const res = await post(gz ? gzipSync(raw) : raw, { 'content-type': 'application/x-protobuf', ...(gz ? { 'content-encoding': 'gzip' } : {}) });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/x-protobuf');
      const decoded = ProtobufTraceSerializer.deserializeResponse(new Uint8Array(await res.arrayBuffer()));
      expect(decoded.partialSuccess).toMatchObject({ errorMessage: '1 span is no agent action, not published (agent 1)' });
      expect(sink.events.map((e) => e.action)).toEqual(['crm.read', 'email.send']);
      expect(sink.events[0]!.id).toMatch(/^[0-9a-f]{32}-[0-9a-f]{16}$/);
      expect(sink.events[0]!.correlationId).toBe(sink.events[0]!.id.slice(0, 32));
    }
  });

  it('JSON and protobuf of the same spans make the same events', async () => {
    const spans = await recordedSpans([RUN]);
    sink.events = [];
    await post(JsonTraceSerializer.serializeRequest(spans)!, { 'content-type': 'application/json' });
    const viaJson = sink.events;
    sink.events = [];
    await post(ProtobufTraceSerializer.serializeRequest(spans)!, { 'content-type': 'application/x-protobuf' });
    expect(sink.events).toEqual(viaJson);
    expect(viaJson).toHaveLength(2);
  });

  it('both decoders read the same spans from the SDK: ids, times, status, every attribute kind, defaults (false, 0) included', async () => {
    const spans = await recordedSpans([{ ...RUN, tools: [{ tool: 't', at: T0 + 1, error: true, attrs: { flag: false, zero: 0, big: 2 ** 40, d: 1.5, list: ['a', 'b'], nums: [1, 2], empty: '' } }] }], { 'service.name': 's', 'spiffe.id': BOT });
    const viaJson = decodeBody(JsonTraceSerializer.serializeRequest(spans)!, 'json');
    const viaProto = decodeBody(ProtobufTraceSerializer.serializeRequest(spans)!, 'protobuf');
    expect(viaProto).toEqual(viaJson);
    const tool = viaProto.find((s) => s.name === 'execute_tool t')!;
    expect(tool.attributes).toMatchObject({ flag: false, zero: 0, big: 2 ** 40, d: 1.5, list: ['a', 'b'], nums: [1, 2], empty: '' });
    expect(tool).toMatchObject({ statusCode: 2, statusMessage: 'tool failed', startNs: BigInt(T0 + 1) * 1_000_000n, resource: { 'spiffe.id': BOT } });
    expect(tool.invalid).toBeUndefined();
    expect(tool.parentSpanId).toBe(viaProto.find((s) => s.name === 'invoke_agent support-bot')!.spanId);
  });

  it('reports spans it cannot map in partialSuccess, counts them on /metrics, and publishes the rest', async () => {
    sink.events = [];
    // A tool call with no agent span, no gen_ai.agent.id and no SPIFFE ID has no identity.
    const orphan: AgentRun = { at: T0, tools: [{ tool: 'db.read', at: T0 + 1 }] };
    const res = await post(await sdkBody('json', [RUN, orphan]), { 'content-type': 'application/json' });
    expect(res.status).toBe(200);
    const { partialSuccess } = await res.json();
    expect(partialSuccess.rejectedSpans).toBe(1);
    expect(partialSuccess.errorMessage).toMatch(/^1 of 5 spans rejected \(OTLP_NO_IDENTITY 1\): span [0-9a-f]{16} "execute_tool db.read": OTLP_NO_IDENTITY: no gen_ai.agent.id/);
    expect(partialSuccess.errorMessage).toContain('2 spans are no agent action, not published (agent 2)');
    expect(sink.events).toHaveLength(2);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/warden_otlp_spans_total\{result="rejected",reason="OTLP_NO_IDENTITY"\} 1/);
    expect(metrics).toMatch(/warden_otlp_spans_total\{result="published",reason=""\} \d+/);
    expect(metrics).toMatch(/warden_otlp_spans_total\{result="skipped",reason="agent"\} \d+/);
  });

  it('an event the producer refuses is rejected with its code; Kafka refusing all of them is 503 with Retry-After', async () => {
    sink.fail = new WardenError('EVENT_TS_TOO_OLD', 'field "ts" is 40 days behind the clock');
    try {
      let res = await post(await sdkBody('json'), { 'content-type': 'application/json' });
      expect(res.status).toBe(200);
      expect((await res.json()).partialSuccess).toMatchObject({ rejectedSpans: 2, errorMessage: expect.stringContaining('EVENT_TS_TOO_OLD: field "ts" is 40 days behind') });
      sink.fail = new WardenError('KAFKA_PUBLISH', 'broker down', { retriable: true });
      res = await post(await sdkBody('protobuf'), { 'content-type': 'application/x-protobuf' });
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('5');
      const status = Status.decode(new Uint8Array(await res.arrayBuffer())) as unknown as { code: number; message: string };
      expect(status.code).toBe(14);
      expect(status.message).toMatch(/^KAFKA_PUBLISH: Kafka took none of the events; retry later: span .*broker down/);
    } finally {
      delete sink.fail;
    }
  });

  it('an empty request is accepted with nothing to report', async () => {
    const res = await post('{}', { 'content-type': 'application/json' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({});
  });
});

describe('warden otlp: bad requests get the right status and a clear message', () => {
  const cases: Array<[string, () => Promise<Response>, number, string]> = [
    ['not JSON', () => post('{"resourceSpans": [', { 'content-type': 'application/json' }), 400, 'OTLP_DECODE: the body is not JSON'],
    ['JSON of another shape', () => post('{"resourceSpans": {}}', { 'content-type': 'application/json' }), 400, 'OTLP_DECODE: the body is not an ExportTraceServiceRequest: resourceSpans must be an array'],
    ['a JSON array', () => post('[]', { 'content-type': 'application/json' }), 400, 'OTLP_DECODE: the body is not an ExportTraceServiceRequest: the body must be an ExportTraceServiceRequest object'],
    ['not UTF-8', () => post(new Uint8Array([0x7b, 0xff, 0x7d]), { 'content-type': 'application/json' }), 400, 'OTLP_DECODE: the JSON body is not valid UTF-8'],
    ['corrupt gzip', () => post(new Uint8Array([0x1f, 0x8b, 1, 2, 3]), { 'content-type': 'application/json', 'content-encoding': 'gzip' }), 400, 'OTLP_DECODE: the gzip body is corrupt'],
    ['a wrong content type', () => post('{}', { 'content-type': 'text/plain' }), 415, 'OTLP_UNSUPPORTED_MEDIA_TYPE: Content-Type must be application/json or application/x-protobuf, got "text/plain"'],
    ['brotli', () => post('{}', { 'content-type': 'application/json', 'content-encoding': 'br' }), 415, 'OTLP_UNSUPPORTED_ENCODING: Content-Encoding must be gzip or none, got "br"'],
    ['a body over the limit', () => post('{"x":"' + 'a'.repeat(70 * 1024) + '"}', { 'content-type': 'application/json' }), 413, 'OTLP_BODY_TOO_LARGE: the body (71688 bytes) is larger than 65536 bytes'],
    ['a gzip bomb', () => post(gzipSync('{"x":"' + 'a'.repeat(200 * 1024) + '"}'), { 'content-type': 'application/json', 'content-encoding': 'gzip' }), 413, 'OTLP_BODY_TOO_LARGE: the body inflates to more than 65536 bytes'],
    ['another path', () => post('{}', { 'content-type': 'application/json' }, '/v1/metrics'), 404, 'OTLP_NOT_FOUND: no such path "/v1/metrics": traces go to POST /v1/traces'],
    ['GET', () => fetch(`${url}/v1/traces`), 405, 'OTLP_NOT_FOUND: /v1/traces takes POST'],
  ];
  for (const [what, send, status, message] of cases) {
    it(`${what}: ${status}`, async () => {
      const res = await send();
      expect(res.status).toBe(status);
      const body = await res.json();
      expect(body.message).toContain(message);
      expect(body.code).toBeGreaterThan(0);
    });
  }

  it('bytes that are no protobuf ExportTraceServiceRequest: 400, a google.rpc.Status in protobuf', async () => {
    const res = await post(new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01]), { 'content-type': 'application/x-protobuf' });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toBe('application/x-protobuf');
    const status = Status.decode(new Uint8Array(await res.arrayBuffer())) as unknown as { code: number; message: string };
    expect(status.code).toBe(3);
    expect(status.message).toMatch(/^OTLP_DECODE: the body is not a protobuf ExportTraceServiceRequest: /);
  });

  it('decodeOtlpTraces, as the package exports it, throws a WardenError OTLP_DECODE', async () => {
    const { decodeOtlpTraces, WardenError: Exported } = await import('../../src/index.js');
    expect(() => decodeOtlpTraces(new TextEncoder().encode('{"resourceSpans":7}'), 'json')).toThrow(Exported);
    expect(() => decodeOtlpTraces(new TextEncoder().encode('{"resourceSpans":7}'), 'json')).toThrow(expect.objectContaining({ code: 'OTLP_DECODE', message: expect.stringContaining('resourceSpans must be an array') }));
  });

  it('a refused request is counted by status on /metrics', async () => {
    await post('nope', { 'content-type': 'application/json' });
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/warden_otlp_requests_total\{status="400"\} [1-9]/);
    expect(metrics).toMatch(/warden_otlp_requests_total\{status="200"\} [1-9]/);
  });
});
