import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { listen } from './listen.js';

export interface Probe {
  /** Null when ready, else why not. */
  notReady(): Promise<string | null>;
  /** Null while alive, else why not (a consumer that stopped, a partition that stalled). */
  notLive?(): string | null;
  /** Lines readiness adds for an operator (partitions retrying, parked outputs). */
  detail?(): Promise<string[]>;
  /** Prometheus text; prom-client renders asynchronously. */
  metrics(): string | Promise<string>;
}

/**
 * /healthz (liveness: the consumer runs and makes progress where there is lag),
 * /readyz (Kafka and Redis connected, partitions assigned), /metrics (Prometheus text).
 * Served from before the service starts: the probe says "starting: ..." meanwhile.
 * Rejects with the listen error (EADDRINUSE, ...) as it came, for the caller to name the setting.
 */
export async function startOpsServer(
  probe: Probe, port: number, host: string,
  /** The status page (src/status): takes what it serves under /status, with its own methods and auth. */
  status?: { handle(req: IncomingMessage, res: ServerResponse): boolean },
): Promise<{ server: Server; port: number; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (status?.handle(req, res)) {
      // Served by the status page.
    } else if (req.method !== 'GET') {
      res.writeHead(405, { allow: 'GET' }).end();
    } else if (path === '/healthz') {
      const why = probe.notLive?.() ?? null;
      res.writeHead(why ? 503 : 200, { 'content-type': 'text/plain' }).end(why ? `not live: ${why}\n` : 'ok\n');
    } else if (path === '/readyz') {
      Promise.all([probe.notReady(), probe.detail?.() ?? []]).then(
        ([why, detail]) => res.writeHead(why ? 503 : 200, { 'content-type': 'text/plain' })
          .end([why ? `not ready: ${why}` : 'ready', ...detail].join('\n') + '\n'),
        (err: Error) => res.writeHead(503, { 'content-type': 'text/plain' }).end(`not ready: ${err.message}\n`),
      );
    } else if (path === '/metrics') {
      Promise.resolve().then(() => probe.metrics()).then(
        (text) => res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(text),
        (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${err.message}\n`),
      );
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /healthz, /readyz or /metrics\n');
    }
  });
  const bound = await listen(server, port, host);
  return {
    server,
    port: bound,
    close: () => new Promise((resolve) => {
      server.close(() => resolve());
      // The status page's refreshing browsers keep connections alive: they must not hold up a stop.
      server.closeIdleConnections();
    }),
  };
}
