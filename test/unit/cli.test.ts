import { execFile } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The built CLI, run as a user runs it (npm test builds first).
function warden(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, ['bin/warden.js', ...args], { maxBuffer: 1 << 26, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'warden-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('warden CLI', () => {
  it('demo suspends the rogue agents and catches every labelled incident', async () => {
    const r = await warden(['demo', '--no-color']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/SUSPEND analytics-agent\/\w+ +whole identity/);
    expect(r.stdout).toMatch(/SUSPEND support-bot\/\w+ +only email\.send/);
    expect(r.stdout).toMatch(/SUSPEND ops-orchestrator\/\w+/);
    expect(r.stdout).toMatch(/incidents caught\s+3\/3/);
  });

  it('simulate | replay | eval scores the recording from the command line', async () => {
    const events = join(dir, 'fleet.jsonl.gz');
    const incidents = join(dir, 'incidents.json');
    const decisions = join(dir, 'decisions.jsonl');
    expect((await warden(['simulate', '--out', events, '--gzip', '--incidents', incidents, '--days', '2'])).code).toBe(0);
    const rep = await warden(['replay', '--input', events, '--output', decisions]);
    expect(rep.code).toBe(0);
    expect(rep.stderr).toMatch(/replay: done: \d+ records \(0 invalid\)/);
    const ev = await warden(['eval', '--decisions', decisions, '--incidents', incidents, '--json']);
    expect(ev.code).toBe(0);
    const report = JSON.parse(ev.stdout.trim().split('\n').pop()!);
    expect(report.incidents).toBe(3);
    expect(report.caught).toBe(3);
    expect(report.recall).toBe(1);
  });

  it('replay reads stdin and writes stdout', async () => {
    const line = JSON.stringify({ id: 'e1', ts: 1_700_000_000_000, identity: 'a', action: 'x.read', resource: 'r:1' });
    const r = await warden(['replay', '--input', '-', '--quiet'], `${line}\nnot json\n`);
    expect(r.code).toBe(0);
    const out = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    // Identity `a` is of no known class: reported (alert-only), then the bad line.
    expect(out.map((o) => o.kind)).toEqual(['detection', 'invalid', 'summary']);
    expect(out[0]).toMatchObject({ identity: 'a', rule: 'unknown-class', decision: 'alert' });
    expect(out[1]).toMatchObject({ offset: 1, code: 'EVENT_DECODE' });
  });

  it('validate-config names the file, line, path and reason, and exits 1', async () => {
    const cfg = join(dir, 'bad-config');
    await mkdir(join(cfg, 'agents'), { recursive: true });
    await writeFile(join(cfg, 'detectors.yaml'), 'detectors:\n  rate:\n    mode: loud\n');
    await writeFile(join(cfg, 'agents', 'bot.yaml'), 'agentClass: bot\nallow:\n  - { action: "x[", resource: "**" }\n');
    const r = await warden(['validate-config', cfg]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/detectors\.yaml:3 detectors\.rate\.mode: .*loud/);
    expect(r.stderr).toMatch(/bot\.yaml:3 allow\[0\]\.action: unsupported glob syntax/);
    const ok = await warden(['validate-config', 'config']);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/config: ok \(version sha256:[0-9a-f]{12}, 7 agent manifests/);
  });

  it('refuses to run with a bad config, and explains usage errors with exit code 2', async () => {
    const cfg = join(dir, 'bad-config');
    const r = await warden(['replay', '--input', '-', '--config', cfg], '');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/CONFIG_INVALID/);
    expect((await warden(['replay'])).stderr).toMatch(/missing --input/);
    expect((await warden(['replay'])).code).toBe(2);
    expect((await warden(['nonsense'])).code).toBe(2);
    const missing = await warden(['replay', '--input', join(dir, 'nope.jsonl')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/INPUT_NOT_FOUND/);
  });

  it('writes a labelled recording that replays to the same output twice', async () => {
    const events = join(dir, 'f.msgpack');
    await warden(['simulate', '--out', events, '--format', 'msgpack', '--days', '2', '--seed', '3']);
    const a = join(dir, 'a.jsonl');
    const b = join(dir, 'b.jsonl');
    await warden(['replay', '--input', events, '--output', a, '--quiet']);
    await warden(['replay', '--input', events, '--output', b, '--quiet']);
    const [ta, tb] = [await readFile(a, 'utf8'), await readFile(b, 'utf8')];
    expect(ta.length).toBeGreaterThan(0);
    expect(ta).toBe(tb);
  });
});
