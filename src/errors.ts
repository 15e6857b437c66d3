/**
 * Every error Warden raises has a stable `code` (documented in the README) and
 * says why in its message. `retriable` tells the retry factory whether trying
 * again can help.
 */
export class WardenError extends Error {
  readonly code: string;
  readonly retriable: boolean;

  constructor(code: string, message: string, options: { retriable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'WardenError';
    this.code = code;
    this.retriable = options.retriable ?? false;
  }
}

export function isRetriable(err: unknown): boolean {
  return err instanceof WardenError ? err.retriable : false;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
