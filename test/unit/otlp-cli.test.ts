import { describe, expect, it } from 'vitest';
import { warden } from './cli-in-process.js';

describe('warden otlp: the command line', () => {
  it('--help prints the usage on stdout, exit 0', async () => {
    const r = await warden('otlp', '--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('usage: warden otlp [--port N]');
    expect(r.stdout).toContain('/v1/traces');
  });

  it('bad flags are CLI_USAGE with exit 2, before anything connects', async () => {
    for (const [args, why] of [
      [['--port', 'http'], '--port must be an integer from 0 to 65535, got "http"'],
      [['--port', '70000'], '--port must be an integer from 0 to 65535'],
      [['--max-body-bytes', '10'], '--max-body-bytes must be an integer from 1024'],
      [['--encoding', 'xml'], '--encoding must be msgpack or json, got "xml"'],
      [['extra'], 'unexpected argument "extra"'],
      [['--bogus'], "Unknown option '--bogus'"],
    ] as const) {
      const r = await warden('otlp', ...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toContain(why);
      expect(r.stderr).toContain('[CLI_USAGE]');
    }
  });

  it('a bad --config is refused with CONFIG_INVALID, naming the directory', async () => {
    const r = await warden('otlp', '--config', '/nonexistent/warden-config');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/nonexistent\/warden-config/);
    expect(r.stderr).toContain('[CONFIG_INVALID]');
  });

  it('is listed in warden --help', async () => {
    expect((await warden('--help')).stdout).toMatch(/^  otlp +receive OpenTelemetry GenAI spans over OTLP\/HTTP/m);
  });
});
