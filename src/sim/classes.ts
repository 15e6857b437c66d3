import type { Prng } from './prng.js';

/** When a class works: office hours with quiet nights and weekends, around the clock, nightly batch, or spawned on demand. */
export type Rhythm = 'office' | 'always' | 'batch' | 'spawned';

export interface StreamSpec {
  action: string;
  /** Events per hour at the business-hours peak, before the identity's own scale. */
  peak: number;
  resource: (r: Prng) => string;
}

export interface ToolSpec {
  action: string;
  /** The manifest glob that declares it. */
  glob: string;
  resource: (r: Prng) => string;
}

export interface ClassSpec {
  name: string;
  description: string;
  /** Long-lived identities in the default 52-agent fleet. */
  count: number;
  rhythm: Rhythm;
  /** Night rate as a fraction of the peak. */
  night: number;
  /** Weekend rate as a fraction of a weekday's. */
  weekend: number;
  readOnly: boolean;
  streams: StreamSpec[];
  /** Declared globs of the streams, in manifest order. */
  allow: { action: string; glob: string }[];
  /** Declared and never used in normal traffic: the declared-first-use incident. */
  dormant?: ToolSpec;
  /** Declared and rolled out to the whole class at once: the class-rollout confounder. */
  rollout?: ToolSpec;
  limits?: { action: string; max: number; window: string }[];
  delegation?: { maxDepth?: number; maxChildren?: number; window?: string };
}

const SERVICES = ['payments', 'checkout', 'search', 'identity', 'catalog', 'ingest', 'billing', 'notify'];
const METRICS = ['latency_p99', 'error_rate', 'rps', 'cpu', 'memory', 'queue_depth'];
const TABLES = ['db:prod.orders', 'db:prod.customers', 'db:prod.invoices', 'db:warehouse.sales', 'db:warehouse.returns', 'db:warehouse.inventory'];
const REPORTS = ['weekly-revenue', 'churn', 'cohort-retention', 'inventory', 'marketing-funnel'];
const REPOS = ['payments-api', 'web-frontend', 'infra', 'ml-pipelines', 'docs', 'mobile-app'];
const PATHS = ['README.md', 'package.json', 'src/index.ts', 'src/lib/util.ts', 'src/api/routes.ts', 'test/app.test.ts', 'Dockerfile'];
const STAGES = ['build', 'test', 'lint', 'deploy-staging'];
export const WAREHOUSE = ['sales', 'orders', 'customers', 'inventory', 'returns'];

export const pod = (r: Prng): string => `${r.pick(SERVICES)}/${r.pick(['api', 'worker', 'web', 'cron'])}-${r.int(0, 5)}`;
/** Customers recur: a pool the class serves, until the new-customer-ids confounder adds a range never seen. */
export const CUSTOMER_POOL = 4000;
export const customer = (r: Prng): number => r.int(1, CUSTOMER_POOL);

export const CLASSES: readonly ClassSpec[] = [
  {
    name: 'support-bot',
    description: 'Answers customer tickets; reads the CRM and emails customers.',
    count: 16, rhythm: 'office', night: 0.05, weekend: 0.35, readOnly: false,
    streams: [
      { action: 'crm.read', peak: 90, resource: (r) => `crm:customers/${customer(r)}` },
      { action: 'ticket.update', peak: 30, resource: (r) => `helpdesk:tickets/${r.int(100000, 999999)}` },
      { action: 'email.send', peak: 15, resource: (r) => `email:customer/${customer(r)}` },
    ],
    allow: [
      { action: 'crm.read', glob: 'crm:customers/**' },
      { action: 'ticket.update', glob: 'helpdesk:tickets/**' },
      { action: 'email.send', glob: 'email:customer/**' },
    ],
    dormant: { action: 'refund.create', glob: 'billing:refunds/**', resource: (r) => `billing:refunds/${r.int(10000, 99999)}` },
    rollout: { action: 'kb.read', glob: 'kb:articles/**', resource: (r) => `kb:articles/${r.int(1, 800)}` },
    limits: [{ action: 'email.send', max: 500, window: '1h' }],
    delegation: { maxDepth: 1 },
  },
  {
    name: 'coding-assistant',
    description: 'Reads any repository, writes to acme\'s, triggers CI.',
    count: 10, rhythm: 'office', night: 0.02, weekend: 0.25, readOnly: false,
    streams: [
      { action: 'repo.read', peak: 50, resource: (r) => `git:acme/${r.pick(REPOS)}/${r.pick(PATHS)}` },
      { action: 'repo.write', peak: 4, resource: (r) => `git:acme/${r.pick(REPOS)}` },
      { action: 'ci.trigger', peak: 3, resource: (r) => `ci:${r.pick(REPOS)}-${r.pick(STAGES)}` },
    ],
    allow: [
      { action: 'repo.read', glob: 'git:**' },
      { action: 'repo.write', glob: 'git:acme/**' },
      { action: 'ci.trigger', glob: 'ci:**' },
    ],
    dormant: { action: 'issue.comment', glob: 'tracker:acme/**', resource: (r) => `tracker:acme/${r.pick(REPOS)}/${r.int(1, 4000)}` },
    rollout: { action: 'pkg.read', glob: 'registry:npm/**', resource: (r) => `registry:npm/${r.pick(['react', 'zod', 'vitest', 'pino', 'yaml', 'ioredis'])}` },
    limits: [{ action: 'repo.write', max: 200, window: '1h' }],
  },
  {
    name: 'analytics-agent',
    description: 'Read-only analytics over production and warehouse data.',
    count: 8, rhythm: 'office', night: 0.2, weekend: 0.4, readOnly: true,
    streams: [
      { action: 'db.read', peak: 40, resource: (r) => r.pick(TABLES) },
      { action: 'report.read', peak: 6, resource: (r) => `s3:reports/${r.pick(REPORTS)}` },
    ],
    allow: [
      { action: 'db.read', glob: 'db:prod.**' },
      { action: 'db.read', glob: 'db:warehouse.**' },
      { action: 'report.read', glob: 's3:reports/**' },
    ],
    dormant: { action: 'dashboard.read', glob: 'bi:dashboards/**', resource: (r) => `bi:dashboards/${r.pick(REPORTS)}` },
  },
  {
    name: 'monitor-agent',
    description: 'Watches service health around the clock; read-only.',
    count: 8, rhythm: 'always', night: 0.7, weekend: 0.9, readOnly: true,
    streams: [
      { action: 'metrics.read', peak: 60, resource: (r) => `metrics:${r.pick(SERVICES)}/${r.pick(METRICS)}` },
      { action: 'http.get', peak: 30, resource: (r) => `url:https://${r.pick(SERVICES)}.acme.example/health` },
      { action: 'k8s.read', peak: 10, resource: (r) => `k8s:prod/${pod(r)}` },
    ],
    allow: [
      { action: 'metrics.read', glob: 'metrics:**' },
      { action: 'http.get', glob: 'url:https://*.acme.example/**' },
      { action: 'k8s.read', glob: 'k8s:**' },
    ],
    dormant: { action: 'log.read', glob: 'logs:**', resource: (r) => `logs:${r.pick(SERVICES)}` },
  },
  {
    name: 'ops-orchestrator',
    description: 'Plans operations work and spawns ops-worker agents to carry it out.',
    count: 6, rhythm: 'always', night: 0.5, weekend: 0.7, readOnly: false,
    streams: [
      { action: 'k8s.read', peak: 20, resource: (r) => `k8s:prod/${pod(r)}` },
      { action: 'deploy.read', peak: 4, resource: (r) => `deploy:${r.pick(SERVICES)}` },
    ],
    allow: [
      { action: 'agent.spawn', glob: 'agent:**' },
      { action: 'k8s.read', glob: 'k8s:**' },
      { action: 'deploy.read', glob: 'deploy:**' },
    ],
    delegation: { maxDepth: 2, maxChildren: 60, window: '1h' },
  },
  {
    name: 'ops-worker',
    description: 'Ephemeral: inspects clusters and logs for one task; may restart workloads in staging only.',
    count: 0, rhythm: 'spawned', night: 1, weekend: 1, readOnly: false,
    streams: [],
    allow: [
      { action: 'k8s.read', glob: 'k8s:**' },
      { action: 'k8s.restart', glob: 'k8s:staging/**' },
      { action: 'log.read', glob: 'logs:**' },
      { action: 'agent.spawn', glob: 'agent:**' },
    ],
    delegation: { maxDepth: 2 },
  },
  {
    name: 'batch-reporter',
    description: 'Nightly reports from the warehouse.',
    count: 4, rhythm: 'batch', night: 1, weekend: 1, readOnly: false,
    streams: [],
    allow: [
      { action: 'db.read', glob: 'db:warehouse.**' },
      { action: 'report.write', glob: 's3:reports/**' },
    ],
  },
];

export const classSpec = (name: string): ClassSpec => {
  const c = CLASSES.find((x) => x.name === name);
  if (!c) throw new RangeError(`unknown simulated class ${name}`);
  return c;
};

export { SERVICES };
