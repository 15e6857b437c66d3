/** Spans made by the real OpenTelemetry JS SDK, for the OTLP receiver's tests. */
import { context, trace, SpanStatusCode, type Attributes, type Span, type Tracer } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';

export interface ToolCall {
  tool: string;
  /** Event time, ms since the epoch. */
  at: number;
  attrs?: Attributes;
  error?: boolean;
}

export interface AgentRun {
  agentId?: string;
  agentName?: string;
  at: number;
  tools: ToolCall[];
  /** Sub-agents this agent invokes, each with its tool calls. */
  subAgents?: AgentRun[];
}

export function provider(processor: SpanProcessor, resource: Attributes = { 'service.name': 'agents' }): BasicTracerProvider {
  return new BasicTracerProvider({ resource: resourceFromAttributes(resource), spanProcessors: [processor] });
}

/** An invoke_agent span with an execute_tool span per call under it (and sub-agents' spans under those), as GenAI instrumentations make them. */
export function runAgent(tracer: Tracer, run: AgentRun, parent?: Span): void {
  const attrs: Attributes = { 'gen_ai.operation.name': 'invoke_agent' };
  if (run.agentId) attrs['gen_ai.agent.id'] = run.agentId;
  if (run.agentName) attrs['gen_ai.agent.name'] = run.agentName;
  const ctx = parent ? trace.setSpan(context.active(), parent) : context.active();
  const agent = tracer.startSpan(`invoke_agent ${run.agentName ?? ''}`.trim(), { attributes: attrs, startTime: run.at }, ctx);
  const inside = trace.setSpan(context.active(), agent);
  for (const call of run.tools) {
    const tool = tracer.startSpan(`execute_tool ${call.tool}`, { attributes: { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': call.tool, ...call.attrs }, startTime: call.at }, inside);
    if (call.error) tool.setStatus({ code: SpanStatusCode.ERROR, message: 'tool failed' });
    tool.end(call.at + 5);
  }
  for (const sub of run.subAgents ?? []) runAgent(tracer, sub, agent);
  agent.end(run.at + 1000);
}

/** The SDK's own spans (ReadableSpan) of some runs, kept in memory. */
export async function recordedSpans(runs: AgentRun[], resource?: Attributes) {
  const memory = new InMemorySpanExporter();
  const p = provider(new SimpleSpanProcessor(memory), resource);
  const tracer = p.getTracer('warden-test');
  for (const r of runs) runAgent(tracer, r);
  await p.forceFlush();
  const spans = memory.getFinishedSpans();
  await p.shutdown();
  return spans;
}
