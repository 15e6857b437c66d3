import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ReceiverStats } from '../../src/alerts/dispatcher.js';
import { startOpsServer } from '../../src/ops/http.js';
import { serviceMetrics, type PartitionLag } from '../../src/ops/service-metrics.js';

const VERSION = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;

function metrics(lag: PartitionLag[] = []) {
  return serviceMetrics({ openBreakers: () => 0, lag: () => lag });
}

/** Sample lines of one family (not HELP/TYPE). */
const samples = (text: string, name: string): string[] =>
  text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));

describe('service metrics (prom-client)', () => {
  it('prints only HELP and TYPE for a labelled family with no samples, never a bare unlabelled 0', async () => {
    const text = await metrics().registry.render();
    for (const name of ['warden_events_invalid_total', 'warden_detections_total', 'warden_breaker_commands_total', 'warden_fleet_guard_trips_total',
      'warden_operator_controls_total', 'warden_outputs_parked_total', 'warden_consumer_lag', 'warden_redis_errors_total']) {
      expect(text).toContain(`# TYPE ${name} `);
      expect(samples(text, name), name).toEqual([]);
    }
    // Unlabelled counters do start at 0.
    expect(text).toMatch(/^warden_events_consumed_total 0$/m);
  });

  it('starts families with a known, small set of label values at 0 for each', async () => {
    const text = await metrics().registry.render();
    expect(samples(text, 'warden_state_loss_total').sort()).toEqual(['warden_state_loss_total{cause="changed"} 0', 'warden_state_loss_total{cause="missing"} 0']);
    expect(samples(text, 'warden_config_reloads_total').sort()).toEqual(['warden_config_reloads_total{result="applied"} 0', 'warden_config_reloads_total{result="refused"} 0']);
    expect(samples(text, 'warden_batch_retries_total')).toHaveLength(2);
    expect(samples(text, 'warden_kafka_errors_total').sort()).toEqual(['crash', 'lag_probe', 'publish'].map((k) => `warden_kafka_errors_total{kind="${k}"} 0`));
  });

  it('escapes agent-controlled label values (quote, backslash, newline)', async () => {
    const m = metrics();
    m.detections.inc({ detector: 'scope', rule: 'a"b\\c\nd', decision: 'suspend' });
    const text = await m.registry.render();
    expect(samples(text, 'warden_detections_total')).toEqual(['warden_detections_total{detector="scope",rule="a\\"b\\\\c\\nd",decision="suspend"} 1']);
  });

  it('says at every scrape what /readyz and /healthz answer (warden_ready, warden_live), 0 when it cannot say', async () => {
    let ready = false;
    let live = true;
    const m = serviceMetrics({ openBreakers: () => 0, lag: () => [], ready: async () => ready, live: () => live });
    let text = await m.registry.render();
    expect(samples(text, 'warden_ready')).toEqual(['warden_ready 0']);
    expect(samples(text, 'warden_live')).toEqual(['warden_live 1']);
    ready = true;
    live = false;
    text = await m.registry.render();
    expect(samples(text, 'warden_ready')).toEqual(['warden_ready 1']);
    expect(samples(text, 'warden_live')).toEqual(['warden_live 0']);
    const bare = await metrics().registry.render();
    expect(samples(bare, 'warden_ready')).toEqual(['warden_ready 0']);
  });

  it('has warden_build_info and the standard process and Node.js runtime metrics', async () => {
    const text = await metrics().registry.render();
    expect(text).toContain(`warden_build_info{version="${VERSION}",node="${process.version}"} 1`);
    expect(text).toMatch(/^# TYPE process_cpu_seconds_total counter$/m);
    expect(text).toMatch(/^process_cpu_seconds_total \d/m);
    expect(text).toMatch(/^process_resident_memory_bytes \d+$/m);
    expect(text).toMatch(/^process_start_time_seconds \d+$/m);
    expect(text).toMatch(/^nodejs_heap_size_used_bytes \d+$/m);
    expect(text).toMatch(/^# TYPE nodejs_eventloop_lag_seconds gauge$/m);
  });

  it('reads lag per {topic, partition} at every scrape: a drained partition shows 0, a revoked one goes', async () => {
    const lag: PartitionLag[] = [{ topic: 'agent.actions', partition: 0, lag: 519 }, { topic: 'agent.actions', partition: 1, lag: 3 }];
    const m = metrics(lag);
    expect(samples(await m.registry.render(), 'warden_consumer_lag')).toEqual([
      'warden_consumer_lag{topic="agent.actions",partition="0"} 519',
      'warden_consumer_lag{topic="agent.actions",partition="1"} 3',
    ]);
    lag[0]!.lag = 0;
    lag.pop();
    expect(samples(await m.registry.render(), 'warden_consumer_lag')).toEqual(['warden_consumer_lag{topic="agent.actions",partition="0"} 0']);
  });

  it('keeps two services in one process apart (a registry each, no name collision)', async () => {
    const [a, b] = [metrics(), metrics()];
    a.events.inc(5);
    expect(await a.registry.render()).toMatch(/^warden_events_consumed_total 5$/m);
    expect(await b.registry.render()).toMatch(/^warden_events_consumed_total 0$/m);
  });

  it('counts Redis connection errors by connection, and renders the dispatcher figures per receiver', async () => {
    const m = metrics();
    const redis = new EventEmitter();
    m.countRedisErrors(redis, 'state');
    expect(samples(await m.registry.render(), 'warden_redis_errors_total')).toEqual(['warden_redis_errors_total{connection="state"} 0']);
    redis.emit('error', new Error('ECONNREFUSED'));
    redis.emit('error', new Error('ECONNREFUSED'));
    const stats: Record<string, ReceiverStats> = { oncall: { delivered: 4, retries: 1, failures: 2, deadLettered: 0, folded: 0, queueDepth: 7 } };
    m.attachAlerts(() => stats);
    let text = await m.registry.render();
    expect(samples(text, 'warden_redis_errors_total')).toEqual(['warden_redis_errors_total{connection="state"} 2']);
    expect(samples(text, 'warden_webhook_deliveries_total')).toEqual(['warden_webhook_deliveries_total{receiver="oncall"} 4']);
    expect(samples(text, 'warden_webhook_queue_depth')).toEqual(['warden_webhook_queue_depth{receiver="oncall"} 7']);
    expect(text).toMatch(/^# TYPE warden_webhook_failures_total counter$/m);
    stats.oncall!.delivered = 6;
    text = await m.registry.render();
    expect(samples(text, 'warden_webhook_deliveries_total')).toEqual(['warden_webhook_deliveries_total{receiver="oncall"} 6']);
  });

  it('matches README "Operations": every warden_ family in the code is listed there with its labels, and nothing more', () => {
    const readme = readFileSync('README.md', 'utf8');
    const section = readme.slice(readme.indexOf('- `/metrics` (Prometheus text'), readme.indexOf('**Failures and exit codes.**'));
    const documented = new Map([...section.matchAll(/`(warden_[a-z_]+)(?:\{([a-z_,]+)\})?`/g)].map((m) => [m[1]!, m[2] ?? '']));
    const m = metrics();
    m.attachAlerts(() => ({}));
    const inCode = new Map(m.registry.getMetricsAsArray().filter((x) => x.name.startsWith('warden_'))
      .map((x) => [x.name, (x as unknown as { labelNames: string[] }).labelNames.join(',')]));
    // Per receiver: the README names the label once for the group.
    for (const [name, labels] of inCode) if (name.startsWith('warden_webhook_')) inCode.set(name, labels === 'receiver' ? '' : labels);
    expect(Object.fromEntries([...documented].sort())).toEqual(Object.fromEntries([...inCode].sort()));
  });

  it('is served by /metrics though rendering is asynchronous; a failed render is a 500', async () => {
    const m = metrics();
    let fail = false;
    const ops = await startOpsServer({ notReady: async () => null, metrics: () => (fail ? Promise.reject(new Error('boom')) : m.registry.render()) }, 0, '127.0.0.1');
    try {
      const res = await fetch(`http://127.0.0.1:${ops.port}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe(m.registry.contentType);
      expect(await res.text()).toMatch(/^warden_build_info\{/m);
      fail = true;
      const bad = await fetch(`http://127.0.0.1:${ops.port}/metrics`);
      expect(bad.status).toBe(500);
      expect(await bad.text()).toContain('boom');
    } finally {
      await ops.close();
    }
  });
});
