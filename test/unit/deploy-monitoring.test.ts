/**
 * deploy/grafana/warden.json and deploy/prometheus/warden-rules.yml may name
 * only metrics (and labels) Warden exports: read from a real registry, the
 * one `warden run` serves, so a renamed metric fails here. The rules also go
 * through `promtool check rules` (scripts/services.sh installs promtool).
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import type { Metric } from 'prom-client';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { serviceMetrics } from '../../src/ops/service-metrics.js';

const DASHBOARD = 'deploy/grafana/warden.json';
const RULES = 'deploy/prometheus/warden-rules.yml';

/** Every series name Warden exports, with the labels each may carry. */
async function exported(): Promise<Map<string, Set<string>>> {
  const m = serviceMetrics({ openBreakers: () => 0, lag: () => [] });
  m.attachAlerts(() => ({}));
  const out = new Map<string, Set<string>>();
  for (const metric of m.registry.getMetricsAsArray() as Array<Metric & { name: string; labelNames?: string[] }>) {
    const { type } = await metric.get();
    const labels = new Set(metric.labelNames ?? []);
    if (type === 'histogram') {
      out.set(`${metric.name}_bucket`, new Set([...labels, 'le']));
      out.set(`${metric.name}_sum`, labels);
      out.set(`${metric.name}_count`, labels);
    } else if (type === 'summary') {
      out.set(metric.name, new Set([...labels, 'quantile']));
      out.set(`${metric.name}_sum`, labels);
      out.set(`${metric.name}_count`, labels);
    } else {
      out.set(metric.name, labels);
    }
  }
  return out;
}

/** Prometheus' own series for every target, and the labels it adds to every series it scrapes. */
const SYNTHETIC = new Map([['up', new Set<string>()]]);
const TARGET_LABELS = ['job', 'instance'];

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'bool', 'and', 'or', 'unless', 'inf', 'nan']);

export interface Reference { metric: string; labels: string[] }

/**
 * The metric names a PromQL expression selects, and the labels it names
 * (matchers and grouping). Not a parser: strings, ranges and grouping are
 * cut out, then every identifier not called as a function is a metric.
 */
export function references(expr: string): { metrics: Reference[]; grouping: string[] } {
  let e = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""');
  const grouping: string[] = [];
  e = e.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g, (_, _k, ls: string) => {
    grouping.push(...ls.split(',').map((l) => l.trim()).filter(Boolean));
    return ' ';
  });
  const metrics: Reference[] = [];
  e = e.replace(/(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*\{([^}]*)\}/g, (_, name: string | undefined, inner: string) => {
    const labels = [...inner.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)].map((m) => m[1]!);
    if (name !== undefined && !KEYWORDS.has(name)) metrics.push({ metric: name, labels });
    return ' ';
  });
  e = e.replace(/\[[^\]]*\]/g, ' ');
  for (const m of e.matchAll(/(?<![\w.:$])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![a-zA-Z0-9_:]|\s*\()/g)) {
    if (!KEYWORDS.has(m[1]!)) metrics.push({ metric: m[1]!, labels: [] });
  }
  return { metrics, grouping };
}

/** What is wrong with the names an expression uses: unknown metrics, labels no metric of it has. */
function problems(expr: string, known: Map<string, Set<string>>): string[] {
  const { metrics, grouping } = references(expr);
  const out: string[] = [];
  if (metrics.length === 0) out.push(`no metric found in ${expr}`);
  const all = new Set(TARGET_LABELS);
  for (const r of metrics) {
    const labels = known.get(r.metric) ?? SYNTHETIC.get(r.metric);
    if (labels === undefined) {
      out.push(`${r.metric} is not a metric Warden exports`);
      continue;
    }
    for (const l of labels) all.add(l);
    for (const l of r.labels) if (!labels.has(l) && !TARGET_LABELS.includes(l)) out.push(`${r.metric} has no label ${l}`);
  }
  for (const l of grouping) if (!all.has(l)) out.push(`grouping by ${l}, which none of ${metrics.map((r) => r.metric).join(', ')} has`);
  return out;
}

interface Panel { type: string; title?: string; id?: number; datasource?: { uid?: string }; targets?: Array<{ expr?: string; refId?: string }>; panels?: Panel[]; gridPos?: { h: number; w: number; x: number; y: number } }

function dashboardQueries(): Array<{ where: string; expr: string; label?: string }> {
  const d = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Panel[]; templating: { list: Array<{ name: string; type: string; query: unknown }> } };
  const out: Array<{ where: string; expr: string; label?: string }> = [];
  const walk = (ps: Panel[]): void => {
    for (const p of ps) {
      for (const t of p.targets ?? []) out.push({ where: `panel "${p.title}" ${t.refId}`, expr: t.expr ?? '' });
      walk(p.panels ?? []);
    }
  };
  walk(d.panels);
  for (const v of d.templating.list.filter((t) => t.type === 'query')) {
    const q = typeof v.query === 'string' ? v.query : (v.query as { query: string }).query;
    const m = /^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$/.exec(q);
    expect(m, `variable ${v.name}: ${q}`).not.toBeNull();
    out.push({ where: `variable ${v.name}`, expr: m![1]!, label: m![2]! });
  }
  return out;
}

function ruleExprs(): Array<{ alert: string; expr: string; labels?: Record<string, string>; annotations?: Record<string, string> }> {
  const doc = parseYaml(readFileSync(RULES, 'utf8')) as { groups: Array<{ name: string; rules: Array<{ alert: string; expr: string; labels?: Record<string, string>; annotations?: Record<string, string> }> }> };
  return doc.groups.flatMap((g) => g.rules);
}

describe('the metric-name check itself', () => {
  it('finds the metrics of an expression, not its functions, keywords, label values, ranges or numbers', () => {
    const r = references('histogram_quantile(0.99, sum by (job, le) (rate(warden_batch_duration_seconds_bucket{job=~"$job", code="up"}[5m]))) > 2.5 and on (job) warden_ready == 0 or absent(up{job="warden"}) > 1e3');
    expect(r.metrics.map((m) => m.metric).sort()).toEqual(['up', 'warden_batch_duration_seconds_bucket', 'warden_ready']);
    expect(r.metrics.find((m) => m.metric === 'warden_batch_duration_seconds_bucket')!.labels).toEqual(['job', 'code']);
    expect(r.grouping).toEqual(['job', 'le', 'job']);
  });

  it('flags a metric Warden does not export, and a label its metric does not have', async () => {
    const known = await exported();
    expect(problems('sum(rate(warden_event_consumed_total[5m]))', known)).toEqual(['warden_event_consumed_total is not a metric Warden exports']);
    expect(problems('warden_webhook_dead_letters_total{reciever="x"}', known)).toEqual(['warden_webhook_dead_letters_total has no label reciever']);
    expect(problems('sum by (agentClass) (warden_fleet_guard_trips_total)', known)).toEqual(['grouping by agentClass, which none of warden_fleet_guard_trips_total has']);
    expect(problems('sum by (instance, agent_class) (warden_fleet_guard_trips_total{job="warden"})', known)).toEqual([]);
  });
});

describe(DASHBOARD, () => {
  it('queries only metrics and labels Warden exports', async () => {
    const known = await exported();
    const queries = dashboardQueries();
    expect(queries.length).toBeGreaterThan(20);
    const found = queries.flatMap((q) => {
      const ps = problems(q.expr, known);
      const { metrics } = references(q.expr);
      if (q.label !== undefined && !TARGET_LABELS.includes(q.label) && !metrics.every((m) => known.get(m.metric)?.has(q.label!))) ps.push(`no label ${q.label}`);
      return ps.map((p) => `${q.where}: ${p}`);
    });
    expect(found).toEqual([]);
  });

  it('covers readiness, lag, dead letters, parked outputs, alert delivery, fleet guard and Redis errors', () => {
    const used = new Set(dashboardQueries().flatMap((q) => references(q.expr).metrics.map((m) => m.metric)));
    for (const m of ['up', 'warden_ready', 'warden_live', 'warden_consumer_lag', 'warden_events_invalid_total', 'warden_outputs_parked_total',
      'warden_webhook_failures_total', 'warden_webhook_dead_letters_total', 'warden_fleet_guard_trips_total', 'warden_redis_errors_total']) {
      expect(used, m).toContain(m);
    }
  });

  it('is a well-formed dashboard: unique panel ids, a refId per query, every query on the data source variable, panels inside 24 columns', () => {
    const d = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { uid: string; panels: Panel[]; templating: { list: Array<{ name: string; type: string }> } };
    expect(d.uid).toBe('warden-health');
    expect(d.templating.list.find((v) => v.name === 'datasource')?.type).toBe('datasource');
    const ids = new Set<number>();
    for (const p of d.panels) {
      expect(ids.has(p.id!), `panel id ${p.id}`).toBe(false);
      ids.add(p.id!);
      expect(p.gridPos!.x + p.gridPos!.w, p.title).toBeLessThanOrEqual(24);
      if (p.type === 'row') continue;
      expect(p.datasource?.uid, p.title).toBe('${datasource}');
      const refIds = (p.targets ?? []).map((t) => t.refId);
      expect(new Set(refIds).size, p.title).toBe(refIds.length);
      expect(refIds.length, p.title).toBeGreaterThan(0);
    }
  });
});

describe(RULES, () => {
  it('alerts only on metrics and labels Warden exports', async () => {
    const known = await exported();
    const rules = ruleExprs();
    expect(rules.length).toBeGreaterThan(10);
    expect(rules.flatMap((r) => problems(r.expr, known).map((p) => `${r.alert}: ${p}`))).toEqual([]);
  });

  it('names each alert once, with a severity and a summary', () => {
    const rules = ruleExprs();
    expect(new Set(rules.map((r) => r.alert)).size).toBe(rules.length);
    for (const r of rules) {
      expect(['warning', 'critical'], r.alert).toContain(r.labels?.severity);
      expect(r.annotations?.summary, r.alert).toBeTruthy();
    }
  });

  it('covers readiness, lag, dead letters, parked outputs, alert delivery, fleet guard and Redis errors', () => {
    const used = new Set(ruleExprs().flatMap((r) => references(r.expr).metrics.map((m) => m.metric)));
    for (const m of ['up', 'warden_ready', 'warden_consumer_lag', 'warden_events_invalid_total', 'warden_outputs_parked_total',
      'warden_webhook_failures_total', 'warden_webhook_dead_letters_total', 'warden_fleet_guard_trips_total', 'warden_redis_errors_total']) {
      expect(used, m).toContain(m);
    }
  });

  const promtool = (...args: string[]) => promisify(execFile)('promtool', args).catch((err: NodeJS.ErrnoException & { stdout?: string; stderr?: string }) => {
    if (err.code === 'ENOENT') throw new Error('promtool is not installed: `bash scripts/test.sh` installs it (apt-get install prometheus), or install Prometheus\' promtool');
    throw new Error(`promtool ${args.join(' ')} failed:\n${err.stdout ?? ''}${err.stderr ?? ''}`);
  });

  it('passes promtool check rules', async () => {
    const r = await promtool('check', 'rules', RULES);
    expect(r.stdout).toMatch(/SUCCESS: \d+ rules found/);
  });

  it('raises the alerts warden-rules.test.yml expects from scraped series, and no others (promtool test rules)', async () => {
    const r = await promtool('test', 'rules', RULES.replace(/\.yml$/, '.test.yml'));
    expect(r.stdout).toContain('SUCCESS');
  });
});
