/** OTLP trace data as the mapper reads it, from either encoding (README "OpenTelemetry"). */

export type AttrValue = string | number | boolean | AttrValue[] | { [key: string]: AttrValue } | Uint8Array | null;
export type Attrs = Record<string, AttrValue>;

export interface OtlpSpan {
  /** Lowercase hex, 32 digits; '' when missing or malformed (see `invalid`). */
  traceId: string;
  /** Lowercase hex, 16 digits. */
  spanId: string;
  /** '' for a root span. */
  parentSpanId: string;
  name: string;
  kind: number;
  /** Nanoseconds since the epoch; 0n when missing. */
  startNs: bigint;
  attributes: Attrs;
  /** 0 unset, 1 ok, 2 error. */
  statusCode: number;
  statusMessage: string;
  resource: Attrs;
  scope: string;
  /** Why the span cannot be read, when it cannot. */
  invalid?: string;
}

/** The request body could not be read as an ExportTraceServiceRequest. */
export class OtlpShapeError extends Error {}

type Json = Record<string, unknown>;
const obj = (v: unknown): Json | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array) ? (v as Json) : undefined);

function list(v: unknown, where: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new OtlpShapeError(`${where} must be an array`);
  return v;
}

export type Encoding = 'json' | 'protobuf';

const HEX = /^[0-9a-f]*$/;

/** An id: hex in OTLP JSON (not base64, unlike protobuf's own JSON mapping), bytes in protobuf. */
function idOf(v: unknown, bytes: number, encoding: Encoding): string | { bad: string } {
  if (v === undefined || v === null || v === '') return '';
  let hex: string;
  if (v instanceof Uint8Array) hex = Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex');
  else if (typeof v === 'string' && encoding === 'json') hex = v.toLowerCase();
  else return { bad: `not ${encoding === 'json' ? 'a hex string' : 'bytes'}` };
  if (hex.length === 0) return '';
  if (!HEX.test(hex) || hex.length !== bytes * 2) return { bad: `${JSON.stringify(hex.slice(0, 40))} is not ${bytes} bytes of hex` };
  return hex;
}

function nanos(v: unknown): bigint | undefined {
  if (v === undefined || v === null) return 0n;
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  if (typeof v === 'string' && /^\d{1,20}$/.test(v)) return BigInt(v);
  return undefined;
}

function int64(v: unknown): number | string | undefined {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string' && /^-?\d{1,20}$/.test(v)) {
    const n = Number(v);
    return Number.isSafeInteger(n) ? n : v;
  }
  return undefined;
}

const MAX_DEPTH = 8;

/** An AnyValue; undefined when it holds nothing we can read. */
export function anyValue(v: unknown, encoding: Encoding, depth = 0): AttrValue | undefined {
  const o = obj(v);
  if (!o) return undefined;
  if (typeof o.stringValue === 'string') return o.stringValue;
  if (typeof o.boolValue === 'boolean') return o.boolValue;
  if ('intValue' in o) return int64(o.intValue);
  if ('doubleValue' in o) {
    const d = o.doubleValue;
    if (typeof d === 'number') return d;
    // OTLP JSON writes NaN and the infinities as strings.
    return typeof d === 'string' && ['NaN', 'Infinity', '-Infinity'].includes(d) ? d : undefined;
  }
  if ('bytesValue' in o) {
    const b = o.bytesValue;
    if (b instanceof Uint8Array) return b;
    return typeof b === 'string' ? Buffer.from(b, 'base64') : undefined;
  }
  if (depth >= MAX_DEPTH) return undefined;
  const array = obj(o.arrayValue);
  if (array) return (Array.isArray(array.values) ? array.values : []).map((x) => anyValue(x, encoding, depth + 1) ?? null);
  const kv = obj(o.kvlistValue);
  if (kv) return attributes(kv.values, encoding, depth + 1);
  return 'arrayValue' in o || 'kvlistValue' in o ? [] : null;
}

/** A KeyValue list as a map; a later duplicate key wins, as in the SDKs. */
export function attributes(v: unknown, encoding: Encoding, depth = 0): Attrs {
  const out: Attrs = Object.create(null) as Attrs;
  if (!Array.isArray(v)) return out;
  for (const kv of v) {
    const o = obj(kv);
    if (!o || typeof o.key !== 'string') continue;
    const value = anyValue(o.value, encoding, depth);
    if (value !== undefined) out[o.key] = value;
  }
  return out;
}

function span(raw: unknown, resource: Attrs, scope: string, encoding: Encoding, where: string): OtlpSpan {
  const o = obj(raw);
  if (!o) throw new OtlpShapeError(`${where} must be an object`);
  const s: OtlpSpan = {
    traceId: '', spanId: '', parentSpanId: '',
    name: typeof o.name === 'string' ? o.name : '',
    kind: typeof o.kind === 'number' ? o.kind : 0,
    startNs: 0n,
    attributes: attributes(o.attributes, encoding),
    statusCode: 0, statusMessage: '',
    resource, scope,
  };
  const status = obj(o.status);
  if (status) {
    if (typeof status.code === 'number') s.statusCode = status.code;
    // Some JSON writers spell enums by name.
    else if (status.code === 'STATUS_CODE_ERROR') s.statusCode = 2;
    else if (status.code === 'STATUS_CODE_OK') s.statusCode = 1;
    if (typeof status.message === 'string') s.statusMessage = status.message;
  }
  const bad: string[] = [];
  const trace = idOf(o.traceId, 16, encoding);
  const id = idOf(o.spanId, 8, encoding);
  const parent = idOf(o.parentSpanId, 8, encoding);
  if (typeof trace === 'string') s.traceId = trace; else bad.push(`traceId ${trace.bad}`);
  if (typeof id === 'string') s.spanId = id; else bad.push(`spanId ${id.bad}`);
  if (typeof parent === 'string') s.parentSpanId = parent; else bad.push(`parentSpanId ${parent.bad}`);
  if (s.traceId === '' && typeof trace === 'string') bad.push('traceId is missing');
  if (s.spanId === '' && typeof id === 'string') bad.push('spanId is missing');
  if (/^0+$/.test(s.traceId) || /^0+$/.test(s.spanId)) bad.push('an all-zero traceId or spanId is invalid');
  const start = nanos(o.startTimeUnixNano);
  if (start === undefined) bad.push('startTimeUnixNano is not an unsigned integer of nanoseconds');
  else if (start === 0n) bad.push('startTimeUnixNano is missing');
  else s.startNs = start;
  if (bad.length) s.invalid = bad.join('; ');
  return s;
}

/** Every span of an ExportTraceServiceRequest (decoded protobuf or parsed OTLP JSON), with its resource and scope. */
export function spansOf(request: unknown, encoding: Encoding): OtlpSpan[] {
  const r = obj(request);
  if (!r) throw new OtlpShapeError('the body must be an ExportTraceServiceRequest object ({"resourceSpans":[...]})');
  const out: OtlpSpan[] = [];
  list(r.resourceSpans, 'resourceSpans').forEach((rs, i) => {
    const ro = obj(rs);
    if (!ro) throw new OtlpShapeError(`resourceSpans[${i}] must be an object`);
    const resource = attributes(obj(ro.resource)?.attributes, encoding);
    list(ro.scopeSpans, `resourceSpans[${i}].scopeSpans`).forEach((ss, j) => {
      const so = obj(ss);
      if (!so) throw new OtlpShapeError(`resourceSpans[${i}].scopeSpans[${j}] must be an object`);
      const name = obj(so.scope)?.name;
      const scope = typeof name === 'string' ? name : '';
      list(so.spans, `resourceSpans[${i}].scopeSpans[${j}].spans`).forEach((sp, k) => {
        out.push(span(sp, resource, scope, encoding, `resourceSpans[${i}].scopeSpans[${j}].spans[${k}]`));
      });
    });
  });
  return out;
}
