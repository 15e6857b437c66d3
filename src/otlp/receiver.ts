import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { listen } from '../ops/listen.js';
import { gunzip } from 'node:zlib';
import type { Logger } from 'pino';
import type { AgentEvent } from '../event/types.js';
import type { EventError } from '../event/validate.js';
import { WardenError, type ErrorCode } from '../errors.js';
import { Counter, createRegistry, type MetricsRegistry } from '../ops/metrics.js';
import { mapSpans, type MapOptions, type SkipReason } from './map.js';
import { decodeTraceRequest, encodeStatus, encodeTraceResponse, loadProtos } from './proto.js';
import { OtlpShapeError, spansOf, type Encoding, type OtlpSpan } from './spans.js';

/** Where events go: warden/producer's EventProducer, or anything with its `send`. */
export interface EventSink {
  send(event: AgentEvent): Promise<unknown>;
}

export interface ReceiverOptions extends MapOptions {
  sink: EventSink;
  logger: Logger;
  /** Largest body taken, compressed or not (bytes). */
  maxBodyBytes: number;
  registry?: MetricsRegistry;
}

export const DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024;
export const TRACES_PATH = '/v1/traces';
const MESSAGES_SHOWN = 3;
const RETRY_AFTER_S = 5;
const CLOSE_GRACE_MS = 10_000;

type Result = 'published' | 'skipped' | 'rejected';

export interface ExportOutcome {
  spans: number;
  published: number;
  skipped: Map<SkipReason, number>;
  rejected: Map<string, number>;
  /** A few rejections with why, for the response and the log. */
  examples: string[];
  /** Every rejection was Kafka refusing events that can be sent again. */
  retryLater: boolean;
}

/** A request refused whole: its HTTP status, and the code that leads its message. */
class HttpError extends WardenError {
  constructor(readonly status: number, code: ErrorCode, message: string, readonly headers: Record<string, string> = {}) {
    super(code, message);
  }
}

function mediaType(req: IncomingMessage): Encoding {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/json') return 'json';
  if (type === 'application/x-protobuf' || type === 'application/protobuf') return 'protobuf';
  throw new HttpError(415, 'OTLP_UNSUPPORTED_MEDIA_TYPE', `Content-Type must be application/json or application/x-protobuf, got ${JSON.stringify(type.slice(0, 80) || '(none)')}`);
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    return Promise.reject(new HttpError(413, 'OTLP_BODY_TOO_LARGE', `the body (${declared} bytes) is larger than ${limit} bytes (--max-body-bytes)`));
  }
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > limit) {
        over = true;
        reject(new HttpError(413, 'OTLP_BODY_TOO_LARGE', `the body is larger than ${limit} bytes (--max-body-bytes)`));
        return;
      }
      parts.push(chunk);
    });
    req.on('end', () => { if (!over) resolve(Buffer.concat(parts)); });
    req.on('error', reject);
  });
}

function inflate(body: Buffer, encoding: string, limit: number): Promise<Buffer> {
  if (encoding === '' || encoding === 'identity') return Promise.resolve(body);
  if (encoding !== 'gzip') {
    return Promise.reject(new HttpError(415, 'OTLP_UNSUPPORTED_ENCODING', `Content-Encoding must be gzip or none, got ${JSON.stringify(encoding.slice(0, 40))}`));
  }
  return new Promise((resolve, reject) => {
    gunzip(body, { maxOutputLength: limit }, (err, out) => {
      if (!err) return resolve(out);
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
        return reject(new HttpError(413, 'OTLP_BODY_TOO_LARGE', `the body inflates to more than ${limit} bytes (--max-body-bytes)`));
      }
      reject(new HttpError(400, 'OTLP_DECODE', `the gzip body is corrupt: ${err.message}`));
    });
  });
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function decodeBody(body: Uint8Array, encoding: Encoding): OtlpSpan[] {
  let request: unknown;
  if (encoding === 'json') {
    let text: string;
    try {
      text = utf8.decode(body);
    } catch {
      throw new HttpError(400, 'OTLP_DECODE', 'the JSON body is not valid UTF-8');
    }
    try {
      request = JSON.parse(text);
    } catch (err) {
      throw new HttpError(400, 'OTLP_DECODE', `the body is not JSON: ${(err as Error).message.slice(0, 160)}`);
    }
  } else {
    try {
      request = decodeTraceRequest(body);
    } catch (err) {
      throw new HttpError(400, 'OTLP_DECODE', `the body is not a protobuf ExportTraceServiceRequest: ${(err as Error).message.slice(0, 160)}`);
    }
  }
  try {
    return spansOf(request, encoding);
  } catch (err) {
    if (err instanceof OtlpShapeError) throw new HttpError(400, 'OTLP_DECODE', `the body is not an ExportTraceServiceRequest: ${err.message}`);
    throw err;
  }
}

const spanName = (s: OtlpSpan): string => `span ${s.spanId || '?'} ${JSON.stringify(s.name.slice(0, 60))}`;

/** The summary an OTLP client gets in `partialSuccess.errorMessage` (and the log line). */
export function summarize(o: ExportOutcome): string {
  const rejected = [...o.rejected.values()].reduce((a, b) => a + b, 0);
  const by = (m: Map<string, number>): string => [...m].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, n]) => `${k} ${n}`).join(', ');
  const parts: string[] = [];
  if (rejected) parts.push(`${rejected} of ${o.spans} spans rejected (${by(o.rejected)}): ${o.examples.join('; ')}`);
  const skipped = [...o.skipped.values()].reduce((a, b) => a + b, 0);
  if (skipped) parts.push(`${skipped} ${skipped === 1 ? 'span is' : 'spans are'} no agent action, not published (${by(o.skipped)})`);
  return parts.join('. ');
}

/**
 * The OTLP/HTTP trace receiver: POST /v1/traces (JSON or protobuf, gzip or
 * not), each mapped span sent to the sink, each other counted and reported in
 * the response's `partialSuccess`; GET /metrics and /healthz.
 */
export class OtlpReceiver {
  readonly registry: MetricsRegistry;
  private readonly spans: Counter<'result' | 'reason'>;
  private readonly requests: Counter<'status'>;

  constructor(private readonly options: ReceiverOptions) {
    loadProtos();
    this.registry = options.registry ?? createRegistry();
    this.spans = new Counter({
      name: 'warden_otlp_spans_total',
      help: 'Spans received on /v1/traces, by result (published, skipped: no agent action, rejected) and reason (the skip reason or error code).',
      labelNames: ['result', 'reason'] as const,
      registers: [this.registry],
    });
    this.requests = new Counter({
      name: 'warden_otlp_requests_total',
      help: 'Export requests on /v1/traces, by HTTP status answered.',
      labelNames: ['status'] as const,
      registers: [this.registry],
    });
  }

  /** Maps and sends the spans of one request; resolves once each is delivered or failed. */
  async export(spans: readonly OtlpSpan[]): Promise<ExportOutcome> {
    const out: ExportOutcome = { spans: spans.length, published: 0, skipped: new Map(), rejected: new Map(), examples: [], retryLater: false };
    const count = (result: Result, reason: string): void => this.spans.inc({ result, reason });
    let retriable = 0;
    const reject = (s: OtlpSpan, error: EventError, canRetry = false): void => {
      out.rejected.set(error.code, (out.rejected.get(error.code) ?? 0) + 1);
      if (out.examples.length < MESSAGES_SHOWN) out.examples.push(`${spanName(s)}: ${error.code}: ${error.message}`);
      if (canRetry) retriable++;
      count('rejected', error.code);
    };
    const results = mapSpans(spans, this.options);
    const sends: Promise<void>[] = [];
    results.forEach((r, i) => {
      const s = spans[i]!;
      if (r.ok) {
        sends.push(this.options.sink.send(r.event).then(
          () => { out.published++; count('published', ''); },
          (err: unknown) => {
            const e = err instanceof WardenError ? err : new WardenError('KAFKA_PUBLISH', String(err), { retriable: true });
            reject(s, { code: e.code, message: e.message }, e.code === 'KAFKA_PUBLISH' && e.retriable);
          },
        ));
      } else if ('skip' in r) {
        out.skipped.set(r.skip, (out.skipped.get(r.skip) ?? 0) + 1);
        count('skipped', r.skip);
      } else {
        reject(s, r.error);
      }
    });
    await Promise.all(sends);
    out.retryLater = retriable > 0 && out.published === 0 && retriable === [...out.rejected.values()].reduce((a, b) => a + b, 0);
    return out;
  }

  /** The HTTP handler, for a server of one's own. */
  handle = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics' || path === '/healthz') {
      if (req.method !== 'GET') return void res.writeHead(405, { allow: 'GET' }).end();
      if (path === '/healthz') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      this.registry.render().then(
        (text) => res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(text),
        (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${err.message}\n`),
      );
      return;
    }
    if (path !== TRACES_PATH) {
      req.resume();
      return void this.reply(res, 'json', 404, 'OTLP_NOT_FOUND', `no such path ${JSON.stringify(path!.slice(0, 80))}: traces go to POST ${TRACES_PATH}`);
    }
    if (req.method !== 'POST') {
      req.resume();
      return void this.reply(res, 'json', 405, 'OTLP_NOT_FOUND', `${TRACES_PATH} takes POST`, { allow: 'POST' });
    }
    void this.traces(req, res);
  };

  private async traces(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let encoding: Encoding = 'json';
    try {
      encoding = mediaType(req);
      const limit = this.options.maxBodyBytes;
      const raw = await readBody(req, limit);
      const body = await inflate(raw, String(req.headers['content-encoding'] ?? '').trim().toLowerCase(), limit);
      const spans = decodeBody(body, encoding);
      const o = await this.export(spans);
      const rejected = [...o.rejected.values()].reduce((a, b) => a + b, 0);
      const message = summarize(o);
      if (rejected) this.options.logger.warn({ spans: o.spans, published: o.published, rejected: Object.fromEntries(o.rejected) }, `otlp: ${message}`);
      else this.options.logger.debug({ spans: o.spans, published: o.published }, 'otlp: export');
      if (o.retryLater) {
        throw new HttpError(503, 'KAFKA_PUBLISH', `Kafka took none of the events; retry later: ${o.examples[0] ?? ''}`, { 'retry-after': String(RETRY_AFTER_S) });
      }
      const partial = message ? { rejectedSpans: rejected, errorMessage: message } : undefined;
      this.requests.inc({ status: '200' });
      if (encoding === 'json') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(partial ? { partialSuccess: partial } : {}));
      } else {
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end(encodeTraceResponse(partial));
      }
    } catch (err) {
      if (!(err instanceof HttpError)) {
        this.options.logger.error({ err }, 'otlp: export failed');
        return this.reply(res, encoding, 500, undefined, `internal error: ${(err as Error).message}`);
      }
      if (err.status === 413) req.resume();
      if (err.status !== 503) this.options.logger.info({ status: err.status, code: err.code }, `otlp: refused a request: ${err.message}`);
      this.reply(res, encoding, err.status, err.code, err.message, err.headers);
    }
  }

  /** An error as OTLP/HTTP answers it: a google.rpc.Status in the request's encoding, the Warden code leading its message. */
  private reply(res: ServerResponse, encoding: Encoding, status: number, code: ErrorCode | undefined, message: string, headers: Record<string, string> = {}): void {
    this.requests.inc({ status: String(status) });
    const text = code ? `${code}: ${message}` : message;
    // gRPC's codes: INVALID_ARGUMENT 3, NOT_FOUND 5, RESOURCE_EXHAUSTED 8, UNAVAILABLE 14, INTERNAL 13, UNIMPLEMENTED 12.
    const rpc = status === 400 || status === 415 ? 3 : status === 404 ? 5 : status === 405 ? 12 : status === 413 ? 8 : status === 503 ? 14 : 13;
    if (status === 413) headers = { ...headers, connection: 'close' };
    if (encoding === 'protobuf') res.writeHead(status, { ...headers, 'content-type': 'application/x-protobuf' }).end(encodeStatus(rpc, text));
    else res.writeHead(status, { ...headers, 'content-type': 'application/json' }).end(JSON.stringify({ code: rpc, message: text }));
  }

  /** Serves the receiver; rejects with the listen error as it came (EADDRINUSE, ...). */
  async listen(port: number, host: string): Promise<{ server: Server; port: number; close(): Promise<void> }> {
    const server = createServer(this.handle);
    const bound = await listen(server, port, host);
    return {
      server,
      port: bound,
      // Requests in flight get their answer (their events are being delivered); idle keep-alive connections go now.
      close: () => new Promise<void>((resolve) => {
        const force = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
        server.close(() => { clearTimeout(force); resolve(); });
        server.closeIdleConnections();
      }),
    };
  }
}
