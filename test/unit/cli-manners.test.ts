import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

// The built CLI, run as a user runs it (npm test builds first).
function warden(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, ['bin/warden.js', ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

const version = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;

describe('warden CLI manners', () => {
  it('--version and -v print the package version', async () => {
    for (const flag of ['--version', '-v']) {
      expect(await warden([flag])).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
    }
  });

  it('usage errors go to stderr with exit 2; asked-for help goes to stdout with exit 0', async () => {
    for (const args of [[], ['nonsense'], ['breaker'], ['breaker', 'frobnicate'], ['override'], ['replay'], ['replay', '--bogus'], ['eval', '--grace', 'soon'], ['alerts'], ['alerts', 'dead'], ['alerts', 'dead', 'frobnicate'], ['alerts', 'dead', 'redrive']]) {
      const r = await warden(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stdout, args.join(' ')).toBe('');
      expect(r.stderr, args.join(' ')).toMatch(/usage: warden|\[CLI_USAGE\]/);
    }
    for (const args of [['--help'], ['breaker', '--help'], ['override', '--help'], ['replay', '--help'], ['alerts', '--help']]) {
      const r = await warden(args);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout, args.join(' ')).toMatch(/^usage: warden/);
    }
  });

  it('replay exits 1, saying so, when nothing in the input was valid', async () => {
    const junk = await warden(['replay', '--input', '-', '--quiet'], '{"id":"e1"}\n[1]\n');
    expect(junk.code).toBe(1);
    expect(junk.stderr).toBe('warden replay: nothing in the input was valid: all 2 records are invalid (the "invalid" lines say why)\n');
    // The output is still complete: why each record was refused, then the summary.
    expect(junk.stdout.trim().split('\n').map((l) => JSON.parse(l).kind)).toEqual(['invalid', 'invalid', 'summary']);
    const empty = await warden(['replay', '--input', '-', '--quiet'], '');
    expect(empty.code).toBe(1);
    expect(empty.stderr).toMatch(/nothing in the input was valid: the input is empty/);
    expect((await warden(['replay', '--input', '-', '--quiet'], 'not json\n')).stderr).toMatch(/its one record is invalid/);
    const one = JSON.stringify({ id: 'e1', ts: 1_700_000_000_000, identity: 'a', action: 'x.read', resource: 'r:1' });
    expect((await warden(['replay', '--input', '-', '--quiet'], `{"id":"e0"}\n${one}\n`)).code).toBe(0);
  });

  it('replay | head: a reader that goes away ends warden quietly with exit 0', async () => {
    const child = spawn(process.execPath, ['bin/warden.js', 'replay', '--input', '-', '--quiet'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.on('error', () => {}); // it stops reading once it has gone
    child.stdout.once('data', () => child.stdout.destroy());
    // Each junk line is one output line: far more than a pipe holds.
    child.stdin.end('{"id":"e1"}\n'.repeat(200_000));
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });
});
