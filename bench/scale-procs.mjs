// For bench/scale.mjs: `warden run` child processes, their /metrics, progress
// read from the partitions' committed offsets in Redis, a CPU profile's summary
// and Redis commandstats deltas.
import { spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { META_FIELD, metaKey, partitionKey } from '../dist/src/state/keys.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** `node bin/warden.js run` with `env` on top of ours; its HTTP port is read from its "warden starting" log line. */
export function startWarden(name, env, { config = 'config', cpuProfDir } = {}) {
  const args = [...(cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', cpuProfDir] : []), join(ROOT, 'bin/warden.js'), 'run', '--config', config];
  const proc = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...env, WARDEN_HTTP_PORT: '0', WARDEN_HTTP_HOST: '127.0.0.1', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const w = { name, proc, port: null, tail: [], samples: [], errors: 0, exited: null, startedAt: performance.now() };
  let onPort;
  w.ready = new Promise((resolve) => (onPort = resolve));
  w.exit = new Promise((resolve) => proc.on('exit', (code, signal) => {
    w.exited = { code, signal, at: performance.now() };
    resolve(w.exited);
  }));
  createInterface({ input: proc.stderr }).on('line', (line) => {
    w.tail.push(line);
    if (w.tail.length > 20) w.tail.shift();
    let rec;
    try { rec = JSON.parse(line); } catch { return; }
    if (rec.msg === 'warden starting' && typeof rec.http === 'string') {
      w.port = Number(rec.http.split(':').pop());
      onPort(w.port);
    }
    // kafkajs logs a rebalance's refused heartbeats as errors: counted, not printed.
    if (rec.level >= 50) w.errors++;
    if (rec.level >= 60) console.log(`  [${name}] ${rec.msg}${rec.err ? `: ${rec.err}` : ''}`);
  });
  return w;
}

/** SIGTERM and wait (SIGKILL after `ms`). */
export async function stopWarden(w, ms = 20_000) {
  if (w.exited) return w.exited;
  w.proc.kill('SIGTERM');
  const t = setTimeout(() => w.proc.kill('SIGKILL'), ms);
  const e = await w.exit;
  clearTimeout(t);
  return e;
}

const METRIC = /^(warden_events_consumed_total|process_resident_memory_bytes|nodejs_heap_size_used_bytes|warden_ready) (\S+)$/gm;

/** The few figures we read from a process's /metrics. */
export async function metricsOf(w) {
  if (!w.port || w.exited) return null;
  try {
    const res = await fetch(`http://127.0.0.1:${w.port}/metrics`, { signal: AbortSignal.timeout(2000) });
    const text = await res.text();
    const m = {};
    for (const [, k, v] of text.matchAll(METRIC)) m[k] = Number(v);
    return { t: performance.now(), events: m.warden_events_consumed_total ?? 0, rss: m.process_resident_memory_bytes, heap: m.nodejs_heap_size_used_bytes, ready: m.warden_ready };
  } catch {
    return null;
  }
}

/**
 * Samples, every `everyMs`, each partition's committed offset from the
 * store's meta hashes (what Warden has committed to Redis), and every
 * `metricsEveryMs` each live process's /metrics.
 */
export function watch(redis, prefix, topic, partitions, workers, { everyMs = 50, metricsEveryMs = 250 } = {}) {
  const keys = Array.from({ length: partitions }, (_, p) => metaKey(partitionKey(prefix, `${topic}:${p}`)));
  const progress = [];
  let stopped = false;
  const poll = async () => {
    while (!stopped) {
      const p = redis.pipeline();
      for (const k of keys) p.hget(k, META_FIELD.committed);
      const replies = await p.exec();
      progress.push({ t: performance.now(), done: replies.map(([, v]) => (v === null ? 0 : Number(v) + 1)) });
      await sleep(everyMs);
    }
  };
  const pollMetrics = async () => {
    while (!stopped) {
      await Promise.all(workers.map(async (w) => {
        const m = await metricsOf(w);
        if (m) w.samples.push(m);
      }));
      await sleep(metricsEveryMs);
    }
  };
  const loops = Promise.all([poll(), pollMetrics()]);
  const total = () => (progress.length ? progress.at(-1).done.reduce((a, b) => a + b, 0) : 0);
  return {
    progress,
    total,
    async until(pred, timeoutAt, what) {
      while (!pred(total())) {
        if (performance.now() > timeoutAt) throw new Error(`time bound reached waiting for ${what} (${total()} events committed)`);
        for (const w of workers) if (w.exited && w.exited.signal !== 'SIGKILL' && !w.stopping) throw new Error(`${w.name} exited (${w.exited.code ?? w.exited.signal}): ${w.tail.slice(-3).join(' | ')}`);
        await sleep(everyMs);
      }
    },
    async stop() {
      stopped = true;
      await loops;
    },
  };
}

/**
 * After `from`, until `to`: the longest time the whole group committed nothing
 * (stop-the-world), and the longest a partition with events left went without
 * a commit (a partition held by a dead member waits out the session timeout
 * while the others go on).
 */
export function pauses(progress, ends, from, to) {
  const total = (s) => s.done.reduce((a, b) => a + b, 0);
  let lastMove = from;
  let prev = null;
  let world = { ms: 0, at: from, end: from };
  const lastP = ends.map(() => from);
  const partition = { ms: 0, p: -1 };
  for (const s of progress) {
    if (s.t < from) {
      prev = s;
      continue;
    }
    if (s.t > to) break;
    if (prev && total(s) > total(prev)) {
      if (s.t - lastMove > world.ms) world = { ms: s.t - lastMove, at: lastMove, end: s.t };
      lastMove = s.t;
    }
    for (let p = 0; p < ends.length; p++) {
      const moved = prev && s.done[p] > prev.done[p];
      const finished = prev && prev.done[p] >= ends[p];
      if (moved || finished) {
        if (moved && s.t - lastP[p] > partition.ms) partition.ms = s.t - lastP[p], partition.p = p;
        lastP[p] = s.t;
      }
    }
    prev = s;
  }
  return { world, partition };
}

/** Events committed at time t (the sample at or before it). */
export function committedAt(progress, t) {
  let v = 0;
  for (const s of progress) {
    if (s.t > t) break;
    v = s.done.reduce((a, b) => a + b, 0);
  }
  return v;
}

/** A process's consumed counter at time t, interpolated between its /metrics samples. */
export function eventsAt(w, t) {
  const s = w.samples;
  if (!s.length || t <= s[0].t) return s[0]?.events ?? 0;
  for (let i = 1; i < s.length; i++) {
    if (s[i].t >= t) return s[i - 1].events + ((s[i].events - s[i - 1].events) * (t - s[i - 1].t)) / (s[i].t - s[i - 1].t);
  }
  return s.at(-1).events;
}

/** INFO commandstats as {cmd: {calls, usec}}. */
export async function commandStats(redis) {
  const info = await redis.info('commandstats');
  const out = {};
  for (const m of info.matchAll(/cmdstat_([\w|]+):calls=(\d+),usec=(\d+)/g)) out[m[1]] = { calls: Number(m[2]), usec: Number(m[3]) };
  return out;
}

export function commandStatsDelta(before, after, top = 6) {
  const rows = [];
  for (const [cmd, a] of Object.entries(after)) {
    const b = before[cmd] ?? { calls: 0, usec: 0 };
    const calls = a.calls - b.calls;
    const usec = a.usec - b.usec;
    if (calls > 0 && cmd !== 'info') rows.push({ cmd, calls, usec, perCall: usec / calls });
  }
  const all = rows.reduce((s, r) => s + r.usec, 0);
  return { totalUsec: all, top: rows.sort((x, y) => y.usec - x.usec).slice(0, top).map((r) => ({ ...r, share: r.usec / all })) };
}

/** Self time of a .cpuprofile by function and by package, the largest first. */
export async function summariseProfile(dir, top = 10) {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile'));
  if (!files.length) return null;
  const prof = JSON.parse(await readFile(join(dir, files[0]), 'utf8'));
  const dt = new Map();
  for (let i = 0; i < prof.samples.length; i++) dt.set(prof.samples[i], (dt.get(prof.samples[i]) ?? 0) + (prof.timeDeltas[i] ?? 0));
  const byFn = new Map();
  const byPkg = new Map();
  let all = 0;
  for (const n of prof.nodes) {
    const us = dt.get(n.id) ?? 0;
    if (!us) continue;
    all += us;
    const f = n.callFrame;
    const where = f.url ? `${basename(f.url)}:${f.lineNumber + 1}` : '';
    const fn = `${f.functionName || '(anonymous)'}${where ? ` ${where}` : ''}`;
    byFn.set(fn, (byFn.get(fn) ?? 0) + us);
    const pkg = packageOf(f.url, f.functionName);
    byPkg.set(pkg, (byPkg.get(pkg) ?? 0) + us);
  }
  const rank = (m) => [...m].sort((a, b) => b[1] - a[1]).slice(0, top).map(([name, us]) => ({ name, ms: us / 1000, share: us / all }));
  return { file: join(dir, files[0]), ms: all / 1000, functions: rank(byFn), packages: rank(byPkg) };
}

function packageOf(url, fn) {
  if (!url) return fn && fn.startsWith('(') ? fn : 'node (native)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1];
  if (url.startsWith('node:')) return 'node (lib)';
  const own = /\/dist\/(src|detectors)\/([^/]+)/.exec(url);
  if (own) return `warden ${own[1]}/${own[2].replace(/\.js$/, '')}`;
  return url;
}
