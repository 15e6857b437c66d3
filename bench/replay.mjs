// warden replay on a 1M-event recording: the embedded pipeline's speed, as a user runs it.
import { execFile } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { syntheticEvents, fmt } from './common.mjs';

const run = promisify(execFile);
const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const IDENTITIES = Number(process.env.BENCH_IDENTITIES ?? 10_000);

const dir = await mkdtemp(join(tmpdir(), 'warden-bench-'));
try {
  const file = join(dir, 'events.jsonl');
  const out = createWriteStream(file);
  let buf = '';
  for (const e of syntheticEvents(EVENTS, IDENTITIES)) {
    buf += JSON.stringify(e) + '\n';
    if (buf.length > 1 << 20) {
      if (!out.write(buf)) await new Promise((r) => out.once('drain', r));
      buf = '';
    }
  }
  out.end(buf);
  await new Promise((r) => out.on('finish', r));
  const size = (await stat(file)).size;
  const times = [];
  for (let i = 0; i < 2; i++) {
    const t0 = process.hrtime.bigint();
    await run(process.execPath, ['bin/warden.js', 'replay', '--input', file, '--config', 'config', '--output', join(dir, `out${i}.jsonl`), '--quiet'], { maxBuffer: 1 << 26 });
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  const same = (await run('cmp', [join(dir, 'out0.jsonl'), join(dir, 'out1.jsonl')]).then(() => true, () => false));
  const best = Math.min(...times);
  console.log(`\nwarden replay: ${fmt(EVENTS)} events (${fmt(size / 1e6, 1)} MB JSONL) from ${fmt(IDENTITIES)} identities`);
  console.log(`  runs ${times.map((t) => t.toFixed(1) + ' s').join(', ')}; best ${fmt(EVENTS / best)} events/s; outputs byte-identical: ${same ? 'yes' : 'NO'}`);
  if (!same) process.exitCode = 1;
} finally {
  await rm(dir, { recursive: true, force: true });
}
