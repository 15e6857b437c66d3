import { readDecisions, readIncidents } from '../eval/io.js';
import { formatReport, scoreDecisions } from '../eval/score.js';
import { parseDuration } from '../config/duration.js';
import { WardenError } from '../errors.js';
import { parse, required } from './args.js';

const USAGE = `usage: warden eval --decisions FILE --incidents FILE [--grace 5m] [--json]

Scores a replay's decisions (its JSON Lines output) against labelled incidents
([{identity, start, end, label?}], ms). An incident is caught when a decision
names its identity, or a sub-agent whose chain contains it, between start and
end + grace. Prints recall, precision, false positives per 1000 identity-hours
and time to detect, as a table and then as one JSON line.`;

export async function evalCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    decisions: { type: 'string', short: 'd' },
    incidents: { type: 'string', short: 'i' },
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
  const decisions = await readDecisions(required(values.decisions, 'decisions', USAGE));
  const incidents = await readIncidents(required(values.incidents, 'incidents', USAGE));
  const opts: { graceMs: number; identityHours?: number } = { graceMs: grace.ms };
  if (decisions.identityHours !== undefined) opts.identityHours = decisions.identityHours;
  const report = scoreDecisions(decisions.decisions, incidents, opts);
  if (!values.json) process.stdout.write(formatReport(report) + '\n');
  process.stdout.write(JSON.stringify(report) + '\n');
  return 0;
}
