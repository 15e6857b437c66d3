// Where a prefix's Redis bytes go: MEMORY USAGE per key kind, and per field group of the identity
// hashes (field name + value bytes as the listpack holds them). `node bench/memory-breakdown.mjs PREFIX [SAMPLE]`
// or breakdown(redis, prefix) from another bench.
import { Redis } from 'ioredis';
import { SUFFIX } from '../dist/src/state/keys.js';

const kindOf = (key) => (key.includes(SUFFIX.distinct) ? 'distinct set' : key.includes(SUFFIX.identity) ? 'identity hash' : 'partition keys');
const groupOf = (field) => (field.startsWith('_') ? field : (/\|.$/.test(field) ? field.slice(-2) : /\|=/.test(field) ? '|= (seen member)' : 'other'));

export async function breakdown(redis, prefix, sample = 2000) {
  const kinds = new Map();
  const groups = new Map();
  const add = (m, k, bytes, n = 1) => { const e = m.get(k) ?? { keys: 0, bytes: 0, enc: new Map() }; e.keys += n; e.bytes += bytes; m.set(k, e); return e; };
  let cursor = '0', seen = 0, identities = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) {
      if (seen >= sample) break;
      seen++;
      const kind = kindOf(key);
      const [usage, enc] = await Promise.all([redis.memory('USAGE', key, 'SAMPLES', 0), redis.object('ENCODING', key)]);
      const e = add(kinds, kind, usage);
      e.enc.set(enc, (e.enc.get(enc) ?? 0) + 1);
      if (kind === 'identity hash') {
        identities++;
        const all = await redis.hgetallBuffer(key);
        for (const [f, v] of Object.entries(all)) add(groups, groupOf(f), Buffer.byteLength(f) + v.length + 2);
      }
    }
  } while (cursor !== '0' && seen < sample);
  return { sampled: seen, identities, kinds, groups };
}

export function printBreakdown({ sampled, identities, kinds, groups }, log = console.log) {
  const per = (b) => (b / Math.max(identities, 1)).toFixed(0);
  log(`  memory breakdown over ${sampled} sampled keys, ${identities} identity hashes (bytes per identity):`);
  for (const [k, e] of kinds) log(`    ${k.padEnd(16)} ${String(e.keys).padStart(6)} keys  ${per(e.bytes).padStart(6)} B/identity  ${(e.bytes / e.keys).toFixed(0)} B/key  ${[...e.enc].map(([x, n]) => `${x}:${n}`).join(' ')}`);
  log('    identity hash field groups (name+value bytes, listpack payload only):');
  for (const [g, e] of [...groups].sort((a, b) => b[1].bytes - a[1].bytes)) log(`      ${g.padEnd(18)} ${(e.keys / Math.max(identities, 1)).toFixed(1).padStart(6)} fields  ${per(e.bytes).padStart(6)} B/identity`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  printBreakdown(await breakdown(redis, process.argv[2], Number(process.argv[3] ?? 2000)));
  redis.disconnect();
}
