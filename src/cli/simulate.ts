import { WardenError } from '../errors.js';
import { simulateFleet } from '../sim/fleet.js';
import { writeEvents, writeIncidents } from '../sim/write.js';
import { parse, required } from './args.js';

const USAGE = `usage: warden simulate --out FILE [--incidents FILE] [--days N] [--seed N] [--format jsonl|msgpack] [--gzip] [--no-rogues]

Writes the demo's simulated fleet as a recording for warden replay, and the
labelled rogue incidents for warden eval.`;

export async function simulateCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    out: { type: 'string', short: 'o' },
    incidents: { type: 'string' },
    days: { type: 'string', default: '3' },
    seed: { type: 'string', default: '7' },
    format: { type: 'string', default: 'jsonl' },
    gzip: { type: 'boolean', default: false },
    'no-rogues': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
  }, USAGE);
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const out = required(values.out, 'out', USAGE);
  if (values.format !== 'jsonl' && values.format !== 'msgpack') throw new WardenError('CLI_USAGE', `--format must be jsonl or msgpack, got "${values.format}"`);
  const sim = simulateFleet({ days: Number(values.days), seed: Number(values.seed), rogues: !values['no-rogues'] });
  await writeEvents(sim.events, out, values.format, values.gzip);
  if (values.incidents) await writeIncidents(sim.incidents, values.incidents);
  process.stderr.write(`simulate: ${sim.events.length} events from ${sim.identities} identities, ${sim.incidents.length} incidents\n`);
  return 0;
}
