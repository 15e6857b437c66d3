// npm run bench (scale part), `warden run` as child processes on the real broker and Redis:
//  group       two, then three processes in one group on a 12-partition topic; one leaves (SIGTERM),
//              one crashes (SIGKILL); throughput per process, rebalance pauses, and the Redis state
//              compared with the events produced per identity and with a clean in-memory replay.
//  identities  one process at 10k identities and at BENCH_SCALE_IDENTITIES, the same number of
//              events each: Redis bytes per identity, throughput ratio, Node RSS and heap, with
//              --cpu-prof and Redis commandstats of each run.
// BENCH_SCALE=0 skips it; BENCH_SCALE_STAGES=group|identities runs one; each stage is bounded by BENCH_SCALE_STAGE_S.
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { Redis } from 'ioredis';
import { loadConfig } from '../dist/src/config/load.js';
import { decodeEvent, encodeEvent } from '../dist/src/event/codec.js';
import { Engine } from '../dist/src/pipeline/engine.js';
import { MemoryClassStore } from '../dist/src/state/class-store.js';
import { MemoryFleetStore } from '../dist/src/state/fleet.js';
import { decodeIdentityState } from '../dist/src/state/identity-hash.js';
import { breakdown, printBreakdown } from './memory-breakdown.mjs';
import { IDENTITY_FIELD, META_FIELD, identitiesPattern, metaKey, partitionKey, partitionOf, prefixPattern } from '../dist/src/state/keys.js';
import { MemoryWindowStore } from '../dist/src/state/memory-store.js';
import { RedisWindowStore } from '../dist/src/state/redis-store.js';
import { fmt, syntheticEvents, table } from './common.mjs';
import { commandStats, commandStatsDelta, committedAt, eventsAt, pauses, startWarden, stopWarden, summariseProfile, watch } from './scale-procs.mjs';

const STAGES = (process.env.BENCH_SCALE_STAGES ?? 'group,identities').split(',');
const STAGE_S = Number(process.env.BENCH_SCALE_STAGE_S ?? 270);
const GROUP_EVENTS = Number(process.env.BENCH_SCALE_GROUP_EVENTS ?? 600_000);
/** Seconds each group phase is measured, once the group is stable. */
const PHASE_S = Number(process.env.BENCH_SCALE_PHASE_S ?? 10);
const GROUP_IDENTITIES = Number(process.env.BENCH_SCALE_GROUP_IDENTITIES ?? 10_000);
const SMALL = 10_000;
const LARGE = Number(process.env.BENCH_SCALE_IDENTITIES ?? 300_000);
/** Events in each identities run: every identity of the large run seen at least once. */
const ID_EVENTS = Number(process.env.BENCH_SCALE_EVENTS ?? LARGE);
const PROFILE = process.env.BENCH_SCALE_PROFILE !== '0';
const CONFIG = process.env.BENCH_CONFIG ?? 'config';
const BROKERS = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const KEYS = process.env.WARDEN_COMMAND_KEYS ?? `bench=${Buffer.alloc(32, 1).toString('base64')}`;
const id = `${Date.now().toString(36)}-${randomBytes(2).toString('hex')}`;
const kafka = new Kafka({ clientId: 'warden-bench-scale', brokers: BROKERS, logLevel: logLevel.NOTHING });
const admin = kafka.admin();
const redis = new Redis(REDIS_URL);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const MB = (b) => `${fmt(b / 1048576, 1)} MB`;

/** What a run creates, so the end removes it whatever happened. */
const created = { topics: new Set(), prefixes: new Set(), workers: [] };

function wardenEnv(name) {
  const prefix = `bench-scale-${name}-${id}`;
  created.prefixes.add(prefix);
  const topics = { actions: `${prefix}-actions`, decisions: `${prefix}-decisions`, commands: `${prefix}-commands`, dlq: `${prefix}-dlq` };
  for (const t of Object.values(topics)) created.topics.add(t);
  return {
    prefix, topics,
    env: {
      KAFKA_BROKERS: BROKERS.join(','), REDIS_URL, KAFKA_GROUP_ID: `${prefix}-group`, KAFKA_SESSION_TIMEOUT_MS: '10000',
      WARDEN_TOPIC_ACTIONS: topics.actions, WARDEN_TOPIC_DECISIONS: topics.decisions, WARDEN_TOPIC_COMMANDS: topics.commands, WARDEN_TOPIC_DLQ: topics.dlq,
      // The synthetic events are from November 2026: no age bound, or they would all be dead letters later.
      WARDEN_EVENT_MAX_AGE: '0', WARDEN_REDIS_PREFIX: prefix, WARDEN_COMMAND_KEYS: KEYS,
    },
  };
}

/** Fills a topic keyed by identity (murmur2: each event lands on its identity's owner partition). Returns the partitions' end offsets. */
async function prefill(topic, partitions, events) {
  await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
  await producer.connect();
  const t0 = performance.now();
  let batch = [];
  let n = 0;
  // One send at a time: concurrent sends can land out of order, and an identity's events must stay in event-time order.
  for (const e of events) {
    n++;
    batch.push({ key: e.identity, value: Buffer.from(encodeEvent(e, 'msgpack')) });
    if (batch.length === 10_000) {
      await producer.send({ topic, acks: 1, messages: batch });
      batch = [];
    }
  }
  if (batch.length) await producer.send({ topic, acks: 1, messages: batch });
  await producer.disconnect();
  const offsets = await admin.fetchTopicOffsets(topic);
  const ends = offsets.sort((a, b) => a.partition - b.partition).map((o) => Number(o.high));
  return { ends, secs: (performance.now() - t0) / 1000, n };
}

async function* scanKeys(pattern, count = 5000) {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', count);
    cursor = next;
    if (keys.length) yield keys;
  } while (cursor !== '0');
}

/** Every identity hash's identity and event count, as the store keeps them. */
async function storedCounts(prefix) {
  const out = new Map();
  for await (const keys of scanKeys(identitiesPattern(prefix))) {
    const p = redis.pipeline();
    for (const k of keys) p.hmgetBuffer(k, IDENTITY_FIELD.id, IDENTITY_FIELD.state);
    const replies = await p.exec();
    keys.forEach((k, i) => {
      const [idBytes, s] = replies[i][1];
      if (idBytes) out.set(idBytes.toString('utf8'), { partition: partitionOf(k), ...(s ? decodeIdentityState(s) : { events: 0, firstSeen: null }) });
    });
  }
  return out;
}

const usedMemory = async () => Number(/used_memory:(\d+)/.exec(await redis.info('memory'))[1]);

/** Sorted keys, so two views built in different orders compare equal when equal. */
function canonical(v) {
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical(v[k])]));
  return v;
}

/** Paths where two values differ, with both values. */
function differences(a, b, path = '') {
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].flatMap((k) => differences(a[k], b[k], path ? `${path}.${k}` : k));
  }
  return Object.is(a, b) ? [] : [`${path}: Redis ${JSON.stringify(a)}, replay ${JSON.stringify(b)}`];
}

/**
 * The clean replay: the same events, decoded from the same bytes, through the
 * service's engine on the in-memory store in one pass (no group, no
 * rebalance). Then one probe event per identity (its last event again) is
 * applied to both stores, and the views they return — every counter,
 * baseline, seen and distinct set the detectors read — must be equal.
 */
async function cleanReplayCompare(events, prefix, topic, stored) {
  const config = await loadConfig(CONFIG);
  const mem = new MemoryWindowStore();
  const engine = new Engine({ config, store: mem, fleet: new MemoryFleetStore(), classes: new MemoryClassStore() });
  let batch = [];
  let offset = 0n;
  const last = new Map();
  for (const e of events) {
    const r = decodeEvent(encodeEvent(e, 'msgpack'));
    if (!r.ok) throw new Error(`bench event does not decode: ${r.error.message}`);
    last.set(r.event.identity, r.event);
    batch.push({ offset: offset++, ok: true, event: r.event });
    if (batch.length === 1000) {
      await engine.process('replay', batch);
      batch = [];
    }
  }
  if (batch.length) await engine.process('replay', batch);
  const replayed = mem.identities;
  let countsEqual = 0;
  const countDiffs = [];
  for (const [identity, s] of replayed) {
    const r = stored.get(identity);
    if (r && r.events === s.events && r.firstSeen === s.firstSeen) countsEqual++;
    else if (countDiffs.length < 3) countDiffs.push(`${identity}: replay ${s.events} events from ${s.firstSeen}, Redis ${r ? `${r.events} from ${r.firstSeen}` : 'none'}`);
  }

  // Probe: the engine's own tracks for each identity's last event, applied past every offset either store has seen.
  const probe = (e) => ({ identity: e.identity, ts: e.ts, tracks: engine.tracks(e, engine.resolve(e)) });
  const byPartition = new Map();
  for (const [identity, e] of last) {
    const p = stored.get(identity)?.partition;
    if (p === undefined) continue;
    if (!byPartition.has(p)) byPartition.set(p, []);
    byPartition.get(p).push(e);
  }
  const store = new RedisWindowStore({ redis: new Redis(REDIS_URL), prefix });
  let viewsEqual = 0;
  let viewsCompared = 0;
  const viewDiffs = [];
  const badPartitions = new Map();
  for (const [partition, list] of byPartition) {
    const applied = BigInt((await redis.hget(metaKey(partitionKey(prefix, partition)), META_FIELD.applied)) ?? '-1');
    for (let i = 0; i < list.length; i += 500) {
      const chunk = list.slice(i, i + 500);
      const r = await store.apply({ partition, updates: chunk.map((e, j) => ({ offset: applied + 1n + BigInt(i + j), ...probe(e) })) });
      const m = await mem.apply({ partition: 'replay', updates: chunk.map((e) => ({ offset: offset++, ...probe(e) })) });
      for (let j = 0; j < chunk.length; j++) {
        viewsCompared++;
        const a = JSON.stringify(canonical(r.outcomes[j].view));
        const b = JSON.stringify(canonical(m.outcomes[j].view));
        if (a === b) viewsEqual++;
        else badPartitions.set(partition, (badPartitions.get(partition) ?? 0) + 1);
        if (a !== b && viewDiffs.length < 2) viewDiffs.push(`${chunk[j].identity} (${list.length} probed on ${partition}): ${differences(r.outcomes[j].view, m.outcomes[j].view).slice(0, 8).join(', ')}`);
      }
    }
  }
  await store.shutdown();
  if (badPartitions.size) viewDiffs.push(`views differ on ${[...badPartitions].map(([p, n]) => `${p.split(':').pop()} (${n} of ${byPartition.get(p).length})`).join(', ')}`);
  return { replayed: replayed.size, countsEqual, countDiffs, viewsCompared, viewsEqual, viewDiffs };
}

async function groupStage(deadline) {
  const PARTITIONS = 12;
  const { prefix, topics, env } = wardenEnv('group');
  console.log(`\nscale, group: ${fmt(GROUP_EVENTS)} events from ${fmt(GROUP_IDENTITIES)} identities on a ${PARTITIONS}-partition topic; 2 warden run, then a 3rd joins, one leaves (SIGTERM), one is killed (SIGKILL, session timeout 10 s), each phase measured for ${PHASE_S} s once the group is stable (${cpus().length} cores, loopback)`);
  const events = () => syntheticEvents(GROUP_EVENTS, GROUP_IDENTITIES);
  const fill = await prefill(topics.actions, PARTITIONS, events());
  console.log(`  pre-filled in ${fill.secs.toFixed(1)} s`);
  const produced = new Map();
  for (const e of events()) produced.set(e.identity, (produced.get(e.identity) ?? 0) + 1);

  const workers = [];
  const add = (name) => {
    const w = startWarden(name, env, { config: CONFIG });
    workers.push(w);
    created.workers.push(w);
    return w;
  };
  const watcher = watch(redis, prefix, topics.actions, PARTITIONS, workers);
  const groupId = env.KAFKA_GROUP_ID;
  const drained = () => watcher.total() >= GROUP_EVENTS;
  const phases = [];
  // A phase is measured once the group is Stable with its members (a killed one is gone only after the session timeout), for PHASE_S.
  const phase = async (label, live, trigger) => {
    let stableAt;
    for (;;) {
      await watcher.until(() => true, deadline, label);
      if (performance.now() > deadline) throw new Error(`time bound reached waiting for the group to settle (${label})`);
      const { groups: [g] } = await admin.describeGroups([groupId]);
      if ((g.state === 'Stable' && g.members.length === live.length) || drained()) break;
      await sleep(200);
    }
    stableAt = performance.now();
    const from = stableAt + 1000;
    await watcher.until(() => performance.now() >= from + PHASE_S * 1000 || drained(), deadline, label);
    phases.push({ label, live, trigger, stableAt, from, to: performance.now(), short: drained() });
  };
  const t0 = performance.now();
  const [w1, w2] = [add('w1'), add('w2')];
  await phase('2 processes', [w1, w2], t0);
  const join = performance.now();
  const w3 = add('w3');
  await phase('3 processes (w3 joined)', [w1, w2, w3], join);
  const leave = performance.now();
  w1.stopping = true;
  const left = stopWarden(w1);
  await phase('2 processes (w1 left, SIGTERM)', [w2, w3], leave);
  const crash = performance.now();
  w2.proc.kill('SIGKILL');
  await phase('1 process (w2 killed, SIGKILL)', [w3], crash);
  await watcher.until(drained, deadline, 'every event committed');
  const done = performance.now();
  await left;
  await sleep(500);
  await watcher.stop();
  w3.stopping = true;
  await stopWarden(w3);

  const { progress } = watcher;
  const rows = [['phase', 'committed, total', 'consumed per process', 'window', 'pause: group / one partition']];
  for (const [i, p] of phases.entries()) {
    const secs = (p.to - p.from) / 1000;
    if (secs <= 0) {
      rows.push([p.label, '-', '-', 'none: the topic was drained first (raise BENCH_SCALE_GROUP_EVENTS)', '']);
      continue;
    }
    const total = (committedAt(progress, p.to) - committedAt(progress, p.from)) / secs;
    p.eps = total;
    p.perProcess = Object.fromEntries(p.live.map((w) => [w.name, (eventsAt(w, p.to) - eventsAt(w, p.from)) / secs]));
    p.pause = i === 0 ? null : pauses(progress, fill.ends, p.trigger, p.to);
    rows.push([
      p.label, `${fmt(total)} events/s`, Object.entries(p.perProcess).map(([n, v]) => `${n} ${fmt(v)}`).join(', '), `${fmt(secs, 1)} s${p.short ? ' (topic drained)' : ''}`,
      p.pause ? `${fmt(p.pause.world.ms / 1000, 2)} s / ${fmt(p.pause.partition.ms / 1000, 2)} s` : '',
    ]);
  }
  console.log(table(rows));
  console.log(`  pause: the longest time, from the join/leave/kill to the end of the phase, in which the group committed nothing / a partition with events left committed nothing; rebalances to a stable group took ${phases.slice(1).map((p) => `${fmt((p.stableAt - p.trigger) / 1000, 1)} s`).join(', ')} (the join includes w3's own start); ${fmt((done - t0) / 1000, 1)} s from the first start to the last commit`);

  const stored = await storedCounts(prefix);
  let equal = 0;
  const diffs = [];
  let more = 0;
  let fewer = 0;
  for (const [identity, n] of produced) {
    const s = stored.get(identity);
    if (s && s.events === n) equal++;
    else {
      if (!s || s.events < n) fewer++;
      else more++;
      if (diffs.length < 3) diffs.push(`${identity}: produced ${n}, Redis ${s ? s.events : 'none'}`);
    }
  }
  const extra = [...stored.keys()].filter((k) => !produced.has(k)).length;
  const countsOk = equal === produced.size && extra === 0;
  console.log(`  ${countsOk ? 'PASS' : 'FAIL'} events per identity in Redis == produced: ${fmt(equal)} of ${fmt(produced.size)} identities equal (${fmt(fewer)} fewer: lost, ${fmt(more)} more: double-counted, ${fmt(extra)} unknown)${diffs.length ? `; e.g. ${diffs.join('; ')}` : ''}`);
  const replay = await cleanReplayCompare(events(), prefix, topics.actions, stored);
  const replayOk = replay.countsEqual === replay.replayed && replay.replayed === stored.size && replay.viewsEqual === replay.viewsCompared && replay.viewsCompared === stored.size;
  console.log(`  ${replayOk ? 'PASS' : 'FAIL'} Redis state == a clean in-memory replay: events and first seen equal for ${fmt(replay.countsEqual)} of ${fmt(replay.replayed)} identities; views (counters, baselines, seen, distinct) after a probe event equal for ${fmt(replay.viewsEqual)} of ${fmt(replay.viewsCompared)}${[...replay.countDiffs, ...replay.viewDiffs].length ? `; e.g. ${[...replay.countDiffs, ...replay.viewDiffs].join('; ')}` : ''}`);
  return {
    events: GROUP_EVENTS, identities: GROUP_IDENTITIES, partitions: PARTITIONS,
    phases: phases.map((p) => ({ ...p, live: p.live.map((w) => w.name) })), countsOk, replayOk, replay: { ...replay, countDiffs: undefined, viewDiffs: undefined },
  };
}

/** One process draining `events` over `identities`: throughput, Redis memory, Node memory, a CPU profile and commandstats. */
async function identitiesRun(identities, deadline) {
  const { prefix, topics, env } = wardenEnv(`ids${identities}`);
  const PARTITIONS = 6;
  const fill = await prefill(topics.actions, PARTITIONS, syntheticEvents(ID_EVENTS, identities, undefined, { cover: true }));
  const profDir = `bench-results/scale-profile-${identities}`;
  await rm(profDir, { recursive: true, force: true });
  const mem0 = await usedMemory();
  const stats0 = await commandStats(redis);
  const w = startWarden(`ids${identities}`, env, { config: CONFIG, ...(PROFILE ? { cpuProfDir: profDir } : {}) });
  created.workers.push(w);
  const watcher = watch(redis, prefix, topics.actions, PARTITIONS, [w], { everyMs: 100, metricsEveryMs: 500 });
  await watcher.until((n) => n > 0, deadline, 'the first commit');
  const first = watcher.progress.find((s) => s.done.some((d) => d > 0)).t;
  await watcher.until((n) => n >= ID_EVENTS, deadline, 'every event committed');
  const last = watcher.progress.find((s) => s.done.reduce((a, b) => a + b, 0) >= ID_EVENTS).t;
  await sleep(600);
  await watcher.stop();
  const stats = commandStatsDelta(stats0, await commandStats(redis));
  w.stopping = true;
  await stopWarden(w);
  const mem = (await usedMemory()) - mem0;
  const sampled = await sampleMemory(prefix);
  if (process.env.BENCH_SCALE_BREAKDOWN === '1') printBreakdown(await breakdown(redis, prefix));
  const s = w.samples.filter((x) => x.rss);
  // Node memory as the run goes: at 10%, 50% and 90% of the events committed (the next /metrics sample).
  const at = (f) => {
    const t = watcher.progress.find((x) => x.done.reduce((a, b) => a + b, 0) >= f * ID_EVENTS)?.t ?? Infinity;
    return s.find((x) => x.t >= t) ?? s.at(-1);
  };
  const marks = [0.1, 0.5, 0.9].map(at);
  const profile = PROFILE ? await summariseProfile(profDir) : null;
  return {
    identities, events: ID_EVENTS, prefill: fill.secs, eps: (ID_EVENTS - 0) / ((last - first) / 1000), secs: (last - first) / 1000,
    usedPerIdentity: mem / identities, sampled, stats, profile,
    rss: { idle: s[0]?.rss, marks: marks.map((x) => x.rss), max: Math.max(...s.map((x) => x.rss)) },
    heap: { idle: s[0]?.heap, marks: marks.map((x) => x.heap), max: Math.max(...s.map((x) => x.heap)) },
  };
}

/** Every key under the prefix counted by kind, and MEMORY USAGE of up to 1,000 of each kind. */
async function sampleMemory(prefix) {
  const kinds = new Map();
  for await (const keys of scanKeys(prefixPattern(prefix), 10_000)) {
    for (const k of keys) {
      const kind = /\}:i:/.test(k) ? 'identity hash' : /\}:d:/.test(k) ? 'distinct set' : 'partition and class keys';
      if (!kinds.has(kind)) kinds.set(kind, { count: 0, sample: [] });
      const e = kinds.get(kind);
      e.count++;
      if (e.sample.length < 1000) e.sample.push(k);
    }
  }
  let total = 0;
  const out = {};
  for (const [kind, e] of kinds) {
    const p = redis.pipeline();
    for (const k of e.sample) p.memory('USAGE', k, 'SAMPLES', 0);
    const sizes = (await p.exec()).map(([, v]) => Number(v ?? 0));
    const mean = sizes.reduce((a, b) => a + b, 0) / sizes.length;
    out[kind] = { keys: e.count, meanBytes: mean };
    total += mean * e.count;
  }
  return { kinds: out, total };
}

async function identitiesStage(deadline) {
  console.log(`\nscale, identities: one warden run, ${fmt(ID_EVENTS)} events each at ${fmt(SMALL)} and at ${fmt(LARGE)} identities (every identity seen), 6 partitions${PROFILE ? ', node --cpu-prof' : ''}${LARGE < 1_000_000 ? `; ${fmt(LARGE)}, not 1M: 1M events per run does not fit the stage's time bound on this machine (BENCH_SCALE_IDENTITIES=1000000 to try)` : ''}`);
  const small = await identitiesRun(SMALL, deadline);
  const large = await identitiesRun(LARGE, deadline);
  const row = (label, f) => [label, f(small), f(large)];
  console.log(table([
    ['measure', `${fmt(SMALL)} identities`, `${fmt(LARGE)} identities`],
    row('events per identity', (r) => fmt(r.events / r.identities, 1)),
    row('throughput (first to last commit)', (r) => `${fmt(r.eps)} events/s`),
    row('Redis used_memory delta / identities', (r) => `${fmt(r.usedPerIdentity)} B`),
    row('MEMORY USAGE, sampled, per identity', (r) => `${fmt(r.sampled.total / r.identities)} B`),
    row('  of which identity hashes', (r) => `${fmt(r.sampled.kinds['identity hash']?.keys ?? 0)} × ${fmt(r.sampled.kinds['identity hash']?.meanBytes ?? 0)} B`),
    row('  distinct sets', (r) => `${fmt(r.sampled.kinds['distinct set']?.keys ?? 0)} × ${fmt(r.sampled.kinds['distinct set']?.meanBytes ?? 0)} B`),
    row('  partition and class keys', (r) => `${fmt(r.sampled.kinds['partition and class keys']?.keys ?? 0)} × ${fmt(r.sampled.kinds['partition and class keys']?.meanBytes ?? 0)} B`),
    row('warden RSS before the first event; at 10/50/90% (max)', (r) => `${MB(r.rss.idle)}; ${r.rss.marks.map((x) => fmt(x / 1048576)).join(' / ')} MB (${MB(r.rss.max)})`),
    row('warden heap used, the same', (r) => `${MB(r.heap.idle)}; ${r.heap.marks.map((x) => fmt(x / 1048576)).join(' / ')} MB (${MB(r.heap.max)})`),
    row('Redis µs per event (commandstats)', (r) => fmt(r.stats.totalUsec / r.events, 1)),
  ]));
  const ratio = large.eps / small.eps;
  const bytes = large.sampled.total / large.identities;
  console.log(`  throughput at ${fmt(LARGE)} / at ${fmt(SMALL)}: ${fmt(100 * ratio, 1)}% (target ≥ 80%: ${ratio >= 0.8 ? 'met' : 'MISSED'}); Redis bytes per identity at ${fmt(LARGE)}: ${fmt(bytes)} sampled, ${fmt(large.usedPerIdentity)} used_memory (target ≤ 2,048: ${Math.max(bytes, large.usedPerIdentity) <= 2048 ? 'met' : 'MISSED'})`);
  for (const r of [small, large]) {
    console.log(`  Redis commandstats over the ${fmt(r.identities)} run (shared Redis: other clients included; commands a script runs count on their own and within evalsha): ${r.stats.top.map((c) => `${c.cmd} ${fmt(100 * c.share)}% (${fmt(c.calls)} calls, ${fmt(c.perCall, 1)} µs each)`).join(', ')}`);
    if (r.profile) {
      console.log(`  cpu profile of the ${fmt(r.identities)} run (${fmt(r.profile.ms / 1000, 1)} s sampled, ${r.profile.file}), self time by package: ${r.profile.packages.slice(0, 8).map((p) => `${p.name} ${fmt(100 * p.share, 1)}%`).join(', ')}`);
      console.log(`    by function: ${r.profile.functions.slice(0, 8).map((p) => `${p.name} ${fmt(100 * p.share, 1)}%`).join(', ')}`);
    }
  }
  return { small, large, ratio, bytesPerIdentity: bytes };
}

async function cleanup() {
  for (const w of created.workers) if (!w.exited) w.proc.kill('SIGKILL');
  await Promise.all(created.workers.map((w) => w.exit));
  const existing = new Set(await admin.listTopics());
  const topics = [...created.topics].filter((t) => existing.has(t));
  if (topics.length) await admin.deleteTopics({ topics });
  created.topics.clear();
  for (const prefix of created.prefixes) {
    for await (const keys of scanKeys(`${prefix}:*`, 10_000)) await redis.unlink(...keys);
  }
  created.prefixes.clear();
  created.workers.length = 0;
}

await admin.connect();
const results = { at: new Date().toISOString() };
let failed = false;
try {
  for (const stage of STAGES) {
    const deadline = performance.now() + STAGE_S * 1000;
    const began = performance.now();
    try {
      if (stage === 'group') results.group = await groupStage(deadline);
      else if (stage === 'identities') results.identities = await identitiesStage(deadline);
      else throw new Error(`unknown stage ${stage} (BENCH_SCALE_STAGES: group, identities)`);
      console.log(`  stage ${stage}: ${fmt((performance.now() - began) / 1000)} s`);
      if (stage === 'group' && !(results.group.countsOk && results.group.replayOk)) failed = true;
    } catch (err) {
      failed = true;
      console.log(`  FAIL stage ${stage}: ${err.message}`);
    }
    await cleanup();
  }
  await mkdir('bench-results', { recursive: true });
  await writeFile('bench-results/scale.json', JSON.stringify(results, null, 2));
} finally {
  await cleanup();
  await admin.disconnect();
  redis.disconnect();
}
process.exitCode = failed ? 1 : 0;
