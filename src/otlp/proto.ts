import { createRequire } from 'node:module';
import protobuf from 'protobufjs';

/**
 * The official OTLP messages as the OpenTelemetry project generates them from
 * opentelemetry-proto with protobufjs, taken from its own package
 * (@opentelemetry/otlp-transformer 0.215.0, the last release that ships the
 * decoders; installed as `otlp-transformer-protobufjs`). Later releases only
 * encode, and no package ships the .proto files.
 */

interface Message<T> {
  decode(bytes: Uint8Array): T;
  encode(message: T): { finish(): Uint8Array };
  fromObject(object: Record<string, unknown>): T;
  toObject(message: T, options: protobuf.IConversionOptions): Record<string, unknown>;
}

interface TraceV1 {
  ExportTraceServiceRequest: Message<unknown>;
  ExportTraceServiceResponse: Message<unknown>;
}

interface Types {
  request: Message<unknown>;
  response: Message<unknown>;
  status: protobuf.Type;
}

let types: Types | undefined;

function load(): Types {
  if (types) return types;
  const root = createRequire(import.meta.url)('otlp-transformer-protobufjs/build/src/generated/root.js') as {
    opentelemetry?: { proto?: { collector?: { trace?: { v1?: TraceV1 } } } };
  };
  const v1 = root.opentelemetry?.proto?.collector?.trace?.v1;
  if (!v1?.ExportTraceServiceRequest || !v1.ExportTraceServiceResponse) {
    throw new Error('otlp-transformer-protobufjs has no opentelemetry.proto.collector.trace.v1 messages: reinstall packages (npm ci)');
  }
  // google.rpc.Status, the body of an OTLP/HTTP error response: three fields, declared here rather than vendoring googleapis.
  const status = new protobuf.Type('Status')
    .add(new protobuf.Field('code', 1, 'int32'))
    .add(new protobuf.Field('message', 2, 'string'));
  new protobuf.Root().add(new protobuf.Namespace('google').add(new protobuf.Namespace('rpc').add(status)));
  types = { request: v1.ExportTraceServiceRequest, response: v1.ExportTraceServiceResponse, status };
  return types;
}

/**
 * An ExportTraceServiceRequest as a plain object shaped like its OTLP JSON
 * (camelCase fields, int64 as decimal strings, enums as numbers), except that
 * bytes fields (ids) are Uint8Array. Throws protobufjs' error on bad bytes.
 */
export function decodeTraceRequest(bytes: Uint8Array): Record<string, unknown> {
  const { request } = load();
  const message = request.decode(bytes);
  return request.toObject(message, { longs: String, enums: Number, arrays: false, defaults: false, oneofs: false });
}

export function encodeTraceResponse(partial?: { rejectedSpans: number; errorMessage: string }): Uint8Array {
  const { response } = load();
  return response.encode(response.fromObject(partial ? { partialSuccess: partial } : {})).finish();
}

export function encodeStatus(code: number, message: string): Uint8Array {
  const { status } = load();
  return status.encode(status.fromObject({ code, message })).finish();
}

/** Loads the definitions now, so a broken install fails at start rather than at the first request. */
export function loadProtos(): void {
  load();
}
