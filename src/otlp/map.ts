import type { AgentEvent, Outcome } from '../event/types.js';
import { validateEvent, type EventError, type EventResult } from '../event/validate.js';
import type { AttrValue, Attrs, OtlpSpan } from './spans.js';

/** OpenTelemetry GenAI spans as Warden events: README "OpenTelemetry" has the table. */

/** The codes of spans that cannot be mapped (README "Errors"); a mapped event that fails validation has its EVENT_* code. */
export type OtlpSpanCode = 'OTLP_SPAN_INVALID' | 'OTLP_NO_IDENTITY';

/** Why a span is not an agent action; counted and reported, not an error. */
export type SkipReason = 'not-genai' | 'inference' | 'agent' | 'mcp-session';

export type SpanResult = EventResult | { ok: false; skip: SkipReason; why: string };

export interface MapOptions {
  /** True when a manifest's `identities` bind the identity: its class is the manifest's, so `gen_ai.agent.name` is not sent as a claim. */
  isBound?: (identity: string) => boolean;
}

const INFERENCE = new Set(['chat', 'text_completion', 'generate_content', 'embeddings']);
const AGENT_OPS = new Set(['invoke_agent', 'create_agent']);
/** MCP methods that keep a session going or list what a server offers, rather than act: every client sends them. */
const MCP_SESSION = /^(initialize|ping|notifications\/.*|logging\/setLevel|completion\/complete|roots\/list|tools\/list|prompts\/list|resources\/list|resources\/templates\/list)$/;
const MESSAGE_CHARS = 256;

const str = (v: AttrValue | undefined): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const clip = (s: string, n: number): string => (s.length <= n ? s : `${s.slice(0, n)}…`);

function spanError(code: OtlpSpanCode, message: string, field?: string): { ok: false; error: EventError } {
  return { ok: false, error: field === undefined ? { code, message } : { code, field, message } };
}

/** The workload's own identity from the resource: a SPIFFE ID. */
export function workloadIdentity(resource: Attrs): string | undefined {
  const id = str(resource['spiffe.id']);
  return id?.startsWith('spiffe://') ? id : undefined;
}

const isAgentSpan = (s: OtlpSpan): boolean => AGENT_OPS.has(str(s.attributes['gen_ai.operation.name']) ?? '');

/** The agent an agent span stands for: its `gen_ai.agent.id`, else the workload's SPIFFE ID. */
const agentIdentity = (s: OtlpSpan): string | undefined => str(s.attributes['gen_ai.agent.id']) ?? workloadIdentity(s.resource);

interface Agent {
  identity: string;
  name?: string;
}

/**
 * The spans of one request, with each span's lineage: the agents of the agent
 * spans above it (itself included), root first, a run of one agent counted once.
 */
export class Trace {
  private readonly byId = new Map<string, OtlpSpan>();
  private readonly lineages = new Map<OtlpSpan, Agent[]>();

  constructor(spans: readonly OtlpSpan[]) {
    // A span with good ids but a bad time still links its children to their agent.
    for (const s of spans) if (s.traceId && s.spanId) this.byId.set(`${s.traceId}/${s.spanId}`, s);
  }

  parent(s: OtlpSpan): OtlpSpan | undefined {
    return s.parentSpanId ? this.byId.get(`${s.traceId}/${s.parentSpanId}`) : undefined;
  }

  lineage(s: OtlpSpan | undefined): Agent[] {
    if (!s) return [];
    const known = this.lineages.get(s);
    if (known) return known;
    // Iterative: a trace can be deep, and a malformed one can loop.
    const path: OtlpSpan[] = [];
    const seen = new Set<OtlpSpan>();
    let top: OtlpSpan | undefined = s;
    let base: Agent[] = [];
    while (top) {
      const hit = this.lineages.get(top);
      if (hit) { base = hit; break; }
      if (seen.has(top)) break;
      seen.add(top);
      path.push(top);
      top = this.parent(top);
    }
    for (let i = path.length - 1; i >= 0; i--) {
      const span = path[i]!;
      const identity = isAgentSpan(span) ? agentIdentity(span) : undefined;
      let here = base;
      if (identity !== undefined && base[base.length - 1]?.identity !== identity) {
        const name = str(span.attributes['gen_ai.agent.name']);
        here = [...base, name === undefined ? { identity } : { identity, name }];
      }
      this.lineages.set(span, here);
      base = here;
    }
    return base;
  }
}

function outcomeOf(s: OtlpSpan): Outcome {
  return s.statusCode === 2 || str(s.attributes['error.type']) !== undefined ? 'error' : 'allowed';
}

function resourceOf(a: Attrs, fallback: string): string {
  // Set by the instrumentation when it knows the target in the manifest's terms.
  const named = str(a['warden.resource']);
  if (named) return named;
  const uri = str(a['mcp.resource.uri']);
  if (uri) return uri;
  const prompt = str(a['gen_ai.prompt.name']);
  if (prompt) return `prompt:${prompt}`;
  const source = str(a['gen_ai.data_source.id']);
  if (source) return `data-source:${source}`;
  const server = str(a['server.address']);
  if (server) {
    const port = a['server.port'];
    return typeof port === 'number' || str(port) ? `${server}:${String(port)}` : server;
  }
  return fallback;
}

/** One span, with the others of its request in `trace`, as a Warden event, a reason it is no agent action, or an error. */
export function mapSpan(s: OtlpSpan, trace: Trace, options: MapOptions = {}): SpanResult {
  if (s.invalid) return spanError('OTLP_SPAN_INVALID', s.invalid);
  const a = s.attributes;
  const op = str(a['gen_ai.operation.name']);
  const method = str(a['mcp.method.name']);
  const tool = str(a['gen_ai.tool.name']);
  if (op === undefined && method === undefined && !Object.keys(a).some((k) => k.startsWith('gen_ai.'))) {
    return { ok: false, skip: 'not-genai', why: 'no gen_ai.* or mcp.method.name attribute' };
  }
  if (op !== undefined && INFERENCE.has(op)) return { ok: false, skip: 'inference', why: `a model call (${op}), not an agent action` };
  if (method !== undefined && MCP_SESSION.test(method)) return { ok: false, skip: 'mcp-session', why: `MCP ${method} keeps a session, it acts on nothing` };

  let lineage: Agent[];
  let action: string;
  let resource: string;
  if (op !== undefined && AGENT_OPS.has(op)) {
    // The agent that invokes (or creates) this one acts; a root agent span only names the agent for its children.
    lineage = trace.lineage(trace.parent(s));
    const child = agentIdentity(s) ?? str(a['gen_ai.agent.name']);
    const caller = lineage[lineage.length - 1];
    if (!caller || caller.identity === child) return { ok: false, skip: 'agent', why: `${op} with no calling agent in the request: it names the agent for the spans under it` };
    action = op === 'invoke_agent' ? 'agent.spawn' : 'agent.create';
    resource = child === undefined ? 'agent:unknown' : `agent:${child}`;
  } else {
    lineage = trace.lineage(s);
    const own = str(a['gen_ai.agent.id']);
    if (own !== undefined && lineage[lineage.length - 1]?.identity !== own) {
      const name = str(a['gen_ai.agent.name']);
      lineage = [...lineage, name === undefined ? { identity: own } : { identity: own, name }];
    }
    if (lineage.length === 0) {
      const workload = workloadIdentity(s.resource);
      if (workload) lineage = [{ identity: workload }];
    }
    action = tool ?? (method === undefined ? op! : method === 'tools/call' ? op ?? 'tools/call' : `mcp:${method}`);
    resource = resourceOf(a, tool !== undefined ? `tool:${tool}` : method !== undefined ? `mcp:${method}` : `gen_ai:${op}`);
  }
  const actor = lineage[lineage.length - 1];
  if (!actor) {
    return spanError('OTLP_NO_IDENTITY', 'no gen_ai.agent.id on the span or on an agent span above it in the request, and no spiffe.id resource attribute', 'gen_ai.agent.id');
  }

  const attrs: Record<string, unknown> = {};
  const put = (k: string, v: unknown): void => {
    if (v !== undefined && v !== null && v !== '') attrs[k] = v;
  };
  put('span', s.name);
  put('operation', op);
  put('tool', tool);
  put('toolType', str(a['gen_ai.tool.type']));
  put('toolCallId', str(a['gen_ai.tool.call.id']));
  put('mcpMethod', method);
  put('mcpSession', str(a['mcp.session.id']));
  put('agentName', actor.name);
  put('service', str(s.resource['service.name']));
  put('errorType', str(a['error.type']));
  if (s.statusMessage) put('statusMessage', clip(s.statusMessage, MESSAGE_CHARS));

  const event: AgentEvent = {
    id: `${s.traceId}-${s.spanId}`,
    ts: Number(s.startNs / 1_000_000n),
    identity: actor.identity,
    action,
    resource,
    outcome: outcomeOf(s),
    correlationId: s.traceId,
    attrs,
  };
  const chain = lineage.slice(0, -1).map((x) => x.identity);
  if (chain.length) event.chain = chain;
  if (actor.name !== undefined && !options.isBound?.(actor.identity)) event.agentClass = actor.name;
  const instance = str(s.resource['service.instance.id']) ?? str(s.resource['k8s.pod.name']) ?? str(s.resource['host.name']);
  if (instance) event.instance = instance;
  const conversation = str(a['gen_ai.conversation.id']);
  if (conversation) event.task = conversation;
  return validateEvent(event);
}

/** Every span of one request, in order. */
export function mapSpans(spans: readonly OtlpSpan[], options: MapOptions = {}): SpanResult[] {
  const trace = new Trace(spans);
  return spans.map((s) => mapSpan(s, trace, options));
}
