import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { WardenError } from '../errors.js';
import { simulateCatalogue } from '../sim/catalogue.js';
import { simulateFleet } from '../sim/fleet.js';
import { catalogueManifests } from '../sim/manifests.js';
import { writeEvents, writeIncidents } from '../sim/write.js';
import { parse, required } from './args.js';

const USAGE = `usage: warden simulate --out FILE [--incidents FILE] [--days N] [--seed N] [--format jsonl|msgpack] [--gzip] [--no-rogues]
       warden simulate --catalogue --out FILE [--incidents FILE] [--days 3] [--seed 1] [--agents 52] [--manifests DIR] [--format ...] [--gzip]
       warden simulate --catalogue --manifests DIR

Writes the demo's simulated fleet as a recording for warden replay, and the
labelled rogue incidents for warden eval.

--catalogue writes the scenario catalogue instead: about 52 agents in 6 classes
plus ephemeral sub-agents, a clean first day, every incident kind at three
intensities on the later days, and benign confounders, all labelled
({identity, start, end, label, kind, intensity, role}). --manifests DIR writes
the fleet's declared scopes as DIR/agents/<class>.yaml.`;

function int(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n)) throw new WardenError('CLI_USAGE', `--${flag} must be an integer, got "${text}"`);
  return n;
}

export async function simulateCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    out: { type: 'string', short: 'o' },
    incidents: { type: 'string' },
    days: { type: 'string' },
    seed: { type: 'string' },
    agents: { type: 'string' },
    catalogue: { type: 'boolean', default: false },
    manifests: { type: 'string' },
    format: { type: 'string', default: 'jsonl' },
    gzip: { type: 'boolean', default: false },
    'no-rogues': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
  }, USAGE);
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  if (values.format !== 'jsonl' && values.format !== 'msgpack') throw new WardenError('CLI_USAGE', `--format must be jsonl or msgpack, got "${values.format}"`);
  if (!values.catalogue) {
    if (values.agents !== undefined || values.manifests !== undefined) throw new WardenError('CLI_USAGE', `--agents and --manifests need --catalogue\n\n${USAGE}`);
    const out = required(values.out, 'out', USAGE);
    const sim = simulateFleet({ days: int(values.days, 'days') ?? 3, seed: int(values.seed, 'seed') ?? 7, rogues: !values['no-rogues'] });
    await writeEvents(sim.events, out, values.format, values.gzip);
    if (values.incidents) await writeIncidents(sim.incidents, values.incidents);
    process.stderr.write(`simulate: ${sim.events.length} events from ${sim.identities} identities, ${sim.incidents.length} incidents\n`);
    return 0;
  }
  if (values.manifests !== undefined) {
    const dir = join(values.manifests, 'agents');
    await mkdir(dir, { recursive: true });
    for (const [name, text] of catalogueManifests()) await writeFile(join(dir, name), text, 'utf8');
    process.stderr.write(`simulate: wrote the catalogue fleet's manifests to ${dir}\n`);
    if (values.out === undefined) return 0;
  }
  const out = required(values.out, 'out', USAGE);
  const opts: { seed?: number; days?: number; agents?: number } = {};
  for (const k of ['seed', 'days', 'agents'] as const) {
    const v = int(values[k], k);
    if (v !== undefined) opts[k] = v;
  }
  const sim = simulateCatalogue(opts);
  await writeEvents(sim.events, out, values.format, values.gzip);
  if (values.incidents) await writeIncidents(sim.labels, values.incidents);
  const roles = { incident: 0, low: 0, confounder: 0 };
  for (const l of sim.labels) roles[l.role ?? 'incident']++;
  process.stderr.write(`simulate: ${sim.events.length} events from ${sim.identities} identities (${sim.longLived} long-lived), ${roles.incident} incidents, ${roles.low} low, ${roles.confounder} confounder labels\n`);
  return 0;
}
