import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

/**
 * The official OTLP definitions (opentelemetry-proto v1.11.0, vendored in
 * src/otlp/proto, Apache-2.0) loaded with protobufjs: no npm package ships
 * them with a decoder (README "OpenTelemetry").
 */

const TRACE_SERVICE = 'opentelemetry/proto/collector/trace/v1/trace_service.proto';

/** The .proto files stay in src/otlp/proto; compiled JS runs from dist/src/otlp. */
function protoDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, 'proto'), resolve(here, '../../../src/otlp/proto')];
  const dir = candidates.find((d) => existsSync(join(d, TRACE_SERVICE)));
  if (!dir) throw new Error(`the OTLP .proto files are missing (looked in ${candidates.join(', ')})`);
  return dir;
}

interface Types {
  request: protobuf.Type;
  response: protobuf.Type;
  status: protobuf.Type;
}

let types: Types | undefined;

function load(): Types {
  if (types) return types;
  const dir = protoDir();
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => join(dir, target);
  root.loadSync(TRACE_SERVICE);
  // google.rpc.Status, the body of an OTLP/HTTP error response: three fields, declared here rather than vendoring googleapis.
  const status = new protobuf.Type('Status')
    .add(new protobuf.Field('code', 1, 'int32'))
    .add(new protobuf.Field('message', 2, 'string'));
  root.add(new protobuf.Namespace('google').add(new protobuf.Namespace('rpc').add(status)));
  types = {
    request: root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest'),
    response: root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse'),
    status,
  };
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
  return request.toObject(message, { longs: String, enums: Number, arrays: false, defaults: false, oneofs: false }) as Record<string, unknown>;
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
