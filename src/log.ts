import { pino, type Logger } from 'pino';

/** The root logger; modules take a child with `{ module }`. Logs go to stderr so stdout stays for data. */
export function createLogger(level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({
    level,
    base: { service: 'warden' },
    redact: { paths: ['*.password', '*.secret', '*.sasl', 'sasl', 'password', 'secret', '*.key'], censor: '[redacted]' },
  }, pino.destination(2));
}
