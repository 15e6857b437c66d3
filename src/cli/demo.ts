import { loadConfig } from '../config/load.js';
import { WardenError } from '../errors.js';
import { scoreDecisions, formatReport } from '../eval/score.js';
import { runDemo } from '../pipeline/demo.js';
import { parse } from './args.js';
import { renderSummary, renderTimeline, TIME } from './render-demo.js';

const USAGE = `usage: warden demo [--config DIR] [--days N] [--seed N] [--no-color]

Simulates a fleet of agents of several classes with a daily rhythm (batch jobs,
ephemeral sub-agents, late joiners). On the last day one analytics agent writes
to a production database it has only ever read, a support bot starts sending
hundreds of emails an hour, and an orchestrator spawns sub-agents without end.
Everything runs through the same detectors, breaker and engine as the service.`;

export async function demoCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    config: { type: 'string', short: 'c', default: 'config' },
    days: { type: 'string', default: '3' },
    seed: { type: 'string', default: '7' },
    'no-color': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
  }, USAGE);
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const days = Number(values.days);
  const seed = Number(values.seed);
  if (!Number.isInteger(days) || days < 2 || days > 14) throw new WardenError('CLI_USAGE', `--days must be an integer from 2 to 14 (the first day is the learning period), got "${values.days}"`);
  if (!Number.isInteger(seed)) throw new WardenError('CLI_USAGE', `--seed must be an integer, got "${values.seed}"`);
  const color = !values['no-color'] && process.stdout.isTTY === true;
  const config = await loadConfig(values.config);
  const started = Date.now();
  const result = await runDemo(config, { days, seed });
  const secs = (Date.now() - started) / 1000;
  const from = TIME(result.firstTs).slice(0, 16);
  const to = TIME(result.lastTs).slice(0, 16);
  const report = scoreDecisions(
    result.items.flatMap((i) => (i.kind === 'detection' ? [i.detection] : [])),
    result.incidents,
    { identityHours: result.identityHours },
  );
  const out = [
    `Warden demo: ${result.events.toLocaleString('en-US')} events from ${result.identities} identities, event time ${from} to ${to} UTC (config ${config.version})`,
    `Processed in ${secs.toFixed(1)} s. The first day is the learning period.`,
    '',
    'Timeline (event time, UTC)',
    renderTimeline(result, color) || '  (no detections)',
    '',
    'Summary',
    renderSummary(result),
    '',
    'Against the labelled rogue incidents',
    formatReport(report),
    '',
  ];
  process.stdout.write(out.join('\n'));
  return 0;
}
