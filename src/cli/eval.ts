import { readDecisions, readIncidents } from '../eval/io.js';
import { scoreLabelled } from '../eval/breakdown.js';
import { formatComparison, formatExplanations, formatKinds, mergeReports, reportJson } from '../eval/format.js';
import { loadEvalConfig, runSeed, type SeedRun } from '../eval/run.js';
import { formatReport, scoreDecisions } from '../eval/score.js';
import { parseDuration } from '../config/duration.js';
import { WardenError } from '../errors.js';
import { roleOf } from '../sim/labels.js';
import { parse, required } from './args.js';

const USAGE = `usage: warden eval --decisions FILE --incidents FILE [--grace 5m] [--json]
       warden eval --catalogue [--seeds 1,2,3] [--days 3] [--agents 52] [--config eval/config]
                   [--detectors config/detectors.yaml] [--grace 5m] [--json]

Scores a replay's decisions (its JSON Lines output) against labelled incidents
([{identity, start, end, label?, kind?, intensity?, role?}], ms). An incident is
caught when a decision names its identity, or a sub-agent whose chain contains
it, between start and end + grace. Prints recall, precision, false positives
per 1000 identity-hours and time to detect; with catalogue labels also recall
per kind and intensity, every missed incident and why, and every falsely
flagged identity with the confounder it fell in. Then the same as one JSON line.

--catalogue simulates the scenario catalogue (warden simulate --catalogue) for
each seed, runs it through the replay engine in memory with the manifests in
--config and the detectors.yaml named by --detectors, and beside it a naive
floor (5-min counts vs learned mean + 6 sd, allow-list, chain depth).`;

function parseSeeds(text: string): number[] {
  const seeds = text.split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  if (seeds.length === 0 || !seeds.every((s) => Number.isSafeInteger(s))) throw new WardenError('CLI_USAGE', `--seeds must be integers separated by commas, got "${text}"`);
  return seeds;
}

function intOption(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n)) throw new WardenError('CLI_USAGE', `--${flag} must be an integer, got "${text}"`);
  return n;
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

export async function evalCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    decisions: { type: 'string', short: 'd' },
    incidents: { type: 'string', short: 'i' },
    catalogue: { type: 'boolean', default: false },
    seeds: { type: 'string', default: '1,2,3' },
    days: { type: 'string' },
    agents: { type: 'string' },
    config: { type: 'string', short: 'c', default: 'eval/config' },
    detectors: { type: 'string', default: 'config/detectors.yaml' },
    grace: { type: 'string', default: '5m' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
  }, USAGE);
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const grace = parseDuration(values.grace);
  if (!grace.ok) throw new WardenError('CLI_USAGE', `--grace: ${grace.reason}`);
  if (values.catalogue) {
    return catalogue(parseSeeds(values.seeds), values.config, values.detectors, grace.ms, intOption(values.days, 'days'), intOption(values.agents, 'agents'), values.json);
  }
  const decisions = await readDecisions(required(values.decisions, 'decisions', USAGE));
  const labels = await readIncidents(required(values.incidents, 'incidents', USAGE));
  const incidents = labels.filter((l) => roleOf(l) === 'incident');
  const opts: { graceMs: number; identityHours?: number } = { graceMs: grace.ms };
  if (decisions.identityHours !== undefined) opts.identityHours = decisions.identityHours;
  const report = scoreDecisions(decisions.decisions, incidents, opts);
  const labelled = labels.some((l) => l.kind !== undefined || l.role !== undefined);
  const breakdown = labelled ? scoreLabelled(decisions.decisions, labels, grace.ms) : null;
  if (!values.json) {
    process.stdout.write(formatReport(report) + '\n');
    if (breakdown) process.stdout.write(`\n${formatKinds(breakdown)}\n\n${formatExplanations(breakdown, 'replay')}\n`);
  }
  process.stdout.write(JSON.stringify(breakdown ? { ...report, breakdown: reportJson(breakdown) } : report) + '\n');
  return 0;
}

async function catalogue(seeds: number[], configDir: string, detectors: string, graceMs: number, days: number | undefined, agents: number | undefined, json: boolean): Promise<number> {
  const config = await loadEvalConfig(configDir, detectors);
  const out = (s: string): void => void (json ? process.stderr : process.stdout).write(s + '\n');
  const runs: SeedRun[] = [];
  const started = performance.now();
  for (const seed of seeds) {
    const r = await runSeed(seed, config, { graceMs, ...(days !== undefined ? { days } : {}), ...(agents !== undefined ? { agents } : {}) });
    runs.push(r);
    out(`seed ${seed}: ${fmt(r.events)} events from ${fmt(r.identities)} identities (${r.longLived} long-lived, the rest ephemeral or new), ` +
      `${r.warden.incidents} incidents + ${r.warden.rows.length - r.warden.incidents} low; replay ${(r.replayMs / 1000).toFixed(1)} s (${fmt(r.events / (r.replayMs / 1000))} events/s), ` +
      `simulate ${(r.simulateMs / 1000).toFixed(1)} s, naive ${(r.naiveMs / 1000).toFixed(1)} s`);
    out(formatComparison(r.warden, r.naive));
    out('');
    out(formatExplanations(r.warden));
    out('');
  }
  const w = mergeReports(runs.map((r) => r.warden));
  const n = mergeReports(runs.map((r) => r.naive));
  const events = runs.reduce((s, r) => s + r.events, 0);
  const replayMs = runs.reduce((s, r) => s + r.replayMs, 0);
  const identities = runs.reduce((s, r) => s + r.identities, 0);
  out(`aggregated over seeds ${seeds.join(', ')}: ${fmt(events)} events, replay ${fmt(events / (replayMs / 1000))} events/s, whole eval ${((performance.now() - started) / 1000).toFixed(1)} s`);
  out(formatComparison(w, n, ['Warden', 'naive'], [runs.map((r) => r.warden.falselyFlagged.length), runs.map((r) => r.naive.falselyFlagged.length)]));
  out(`  falsely flagged identities per 50 identities per 3 days: Warden ${per50(w.falselyFlagged.length, runs)}, naive ${per50(n.falselyFlagged.length, runs)} (long-lived identities as the base; ${fmt(identities)} identities in all counting ephemeral ones)`);
  out('  targets (issue 8): blatant and moderate recall >= 0.95, subtle >= 0.7, <= 1 falsely flagged identity per 50 per 3 days, median time to detect <= 60 s; class-wide rollout and surge flag no one');
  process.stdout.write(JSON.stringify({
    kind: 'eval', seeds, events, replayEventsPerSec: Math.round(events / (replayMs / 1000)), graceMs,
    perSeed: runs.map((r) => ({ seed: r.seed, events: r.events, identities: r.identities, longLived: r.longLived, replayMs: Math.round(r.replayMs), warden: reportJson(r.warden), naive: reportJson(r.naive) })),
    warden: summaryJson(w), naive: summaryJson(n),
  }) + '\n');
  return 0;
}

function per50(flagged: number, runs: SeedRun[]): string {
  const fleets = runs.reduce((s, r) => s + (r.longLived / 50) * (r.days / 3), 0);
  return (flagged / fleets).toFixed(1);
}

function summaryJson(r: ReturnType<typeof mergeReports>): Record<string, unknown> {
  const { missed: _m, falselyFlagged: _f, ...rest } = reportJson(r);
  return rest;
}
