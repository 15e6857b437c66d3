import { errorMessage } from '../errors.js';
import { parseRetryAfter } from '../retry.js';

export type FetchImpl = typeof fetch;

export interface DeliveryRequest {
  url: string;
  body: string;
  headers: Record<string, string>;
  timeoutMs: number;
  /** Aborts the request for shutdown: the abort is thrown, not classified. */
  signal?: AbortSignal;
  fetchImpl?: FetchImpl;
  now?: () => number;
}

export type DeliveryOutcome =
  | { kind: 'delivered'; status: number }
  | { kind: 'retry'; status?: number; reason: string; retryAfterMs?: number }
  | { kind: 'fail'; status: number; reason: string };

function connectionReason(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return `connection error: ${cause?.code ?? cause?.message ?? errorMessage(err)}`;
}

/** One POST. 2xx delivered; timeouts, connection errors, 5xx and 429 retry; any other status fails for good. */
export async function deliverOnce(req: DeliveryRequest): Promise<DeliveryOutcome> {
  const timeout = AbortSignal.timeout(req.timeoutMs);
  const signal = req.signal ? AbortSignal.any([timeout, req.signal]) : timeout;
  let res: Response;
  try {
    res = await (req.fetchImpl ?? fetch)(req.url, {
      method: 'POST',
      body: req.body,
      headers: { 'content-type': 'application/json', 'user-agent': 'warden-alerts', ...req.headers },
      // A redirect would turn the POST into a GET somewhere else: refuse it.
      redirect: 'manual',
      signal,
    });
  } catch (err) {
    if (req.signal?.aborted) throw req.signal.reason;
    if (timeout.aborted) return { kind: 'retry', reason: `timed out after ${req.timeoutMs} ms` };
    return { kind: 'retry', reason: connectionReason(err) };
  }
  // Read (a bounded part of) the body so the connection can be reused; a slow body is the receiver's problem.
  const text = await res.text().catch(() => '');
  if (req.signal?.aborted) throw req.signal.reason;
  const status = res.status;
  if (status >= 200 && status < 300) return { kind: 'delivered', status };
  const reason = `HTTP ${status}${text ? `: ${text.slice(0, 200)}` : ''}`;
  if (status === 429 || status >= 500) {
    const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'), (req.now ?? Date.now)());
    return retryAfterMs === undefined ? { kind: 'retry', status, reason } : { kind: 'retry', status, reason, retryAfterMs };
  }
  return { kind: 'fail', status, reason };
}
