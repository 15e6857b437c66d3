// Shared by the benchmarks: a synthetic benign fleet, percentiles, a table.
import { quantileSorted } from 'simple-statistics';

const CLASSES = [
  ['support-bot', [['crm.read', 'crm:customers/'], ['email.send', 'email:customer/'], ['ticket.update', 'helpdesk:tickets/']]],
  ['analytics-agent', [['db.read', 'db:prod.orders/'], ['db.read', 'db:warehouse.sales/'], ['report.read', 's3:reports/']]],
  ['coding-assistant', [['repo.read', 'git:acme/web/'], ['repo.write', 'git:acme/web/'], ['ci.trigger', 'ci:web-']]],
  ['ops-worker', [['k8s.read', 'k8s:prod/'], ['log.read', 'logs:api/']]],
];

/**
 * `count` events over `identities` identities, in event-time order, deterministic.
 * `cover`: the first `identities` events go to each identity once, in order, so every one is seen.
 */
export function* syntheticEvents(count, identities, start = Date.UTC(2026, 10, 20), { cover = false } = {}) {
  let seed = 42;
  const rand = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const stepMs = Math.max(1, Math.floor((6 * 3_600_000) / count)); // six hours of event time
  for (let i = 0; i < count; i++) {
    const drawn = Math.floor(rand() * identities);
    const n = cover && i < identities ? i : drawn;
    const [agentClass, allow] = CLASSES[n % CLASSES.length];
    const [action, prefix] = allow[Math.floor(rand() * allow.length)];
    yield {
      id: `b-${i}`,
      ts: start + i * stepMs,
      identity: `spiffe://acme.example/agent/${agentClass}/${n.toString(16).padStart(5, '0')}`,
      action,
      resource: `${prefix}${Math.floor(rand() * 5000)}`,
      agentClass,
      instance: `pod-${n % 97}`,
      outcome: 'allowed',
    };
  }
}

export function percentile(sorted, p) {
  return sorted.length === 0 ? NaN : quantileSorted(sorted, p);
}

export function table(rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  return rows.map((r) => '  ' + r.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ')).join('\n');
}

export const fmt = (n, digits = 0) => Number(n).toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
