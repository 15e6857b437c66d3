import { readFile } from 'node:fs/promises';
import { loadConfig } from '../config/load.js';
import type { WardenConfig } from '../config/types.js';
import { WardenError } from '../errors.js';
import type { StreamRecord } from '../event/read-stream.js';
import { validateEvent } from '../event/validate.js';
import { runRecords } from '../pipeline/replay.js';
import { simulateCatalogue, type CatalogueResult } from '../sim/catalogue.js';
import { DAY } from '../sim/rhythm.js';
import { scoreLabelled, type LabelledReport } from './breakdown.js';
import { naiveFloor } from './naive.js';
import type { DecisionLike } from './score.js';

/** The eval's fleet manifests with the shipped detectors.yaml, unchanged, in place of any in that directory. */
export async function loadEvalConfig(manifestDir = 'eval/config', detectorsFile = 'config/detectors.yaml'): Promise<WardenConfig> {
  let text: string;
  try {
    text = await readFile(detectorsFile, 'utf8');
  } catch (err) {
    throw new WardenError('INPUT_NOT_FOUND', `cannot read ${detectorsFile}: ${(err as Error).message}`, { cause: err });
  }
  return loadConfig(manifestDir, { extra: { name: 'detectors.yaml', text } });
}

export interface SeedRun {
  seed: number;
  days: number;
  events: number;
  identities: number;
  longLived: number;
  /** Wall time of the replay engine alone, and of the naive floor. */
  replayMs: number;
  naiveMs: number;
  simulateMs: number;
  warden: LabelledReport;
  naive: LabelledReport;
}

function* records(sim: CatalogueResult): Generator<StreamRecord> {
  for (let i = 0; i < sim.events.length; i++) {
    const v = validateEvent(sim.events[i]);
    yield { index: i, result: v.ok ? { ok: true, event: v.event, encoding: 'json' } : v };
  }
}

export interface SeedOptions {
  days?: number;
  agents?: number;
  graceMs?: number;
}

/** One seed: the catalogue through the same in-memory engine as `warden replay`, and through the naive floor. */
export async function runSeed(seed: number, config: WardenConfig, opts: SeedOptions = {}): Promise<SeedRun> {
  let t = performance.now();
  const sim = simulateCatalogue({ seed, ...(opts.days ? { days: opts.days } : {}), ...(opts.agents ? { agents: opts.agents } : {}) });
  const simulateMs = performance.now() - t;

  t = performance.now();
  const decisions: DecisionLike[] = [];
  const summary = await runRecords(records(sim), config, (out) => {
    for (const item of out.items) {
      if (item.kind !== 'detection') continue;
      const d = item.detection;
      decisions.push({ identity: d.identity, ts: d.ts, chain: d.chain, decision: d.decision, detector: d.detector, rule: d.rule, reason: d.reason });
    }
  });
  const replayMs = performance.now() - t;
  if (summary.invalid > 0) throw new WardenError('EVAL_INPUT_INVALID', `seed ${seed}: ${summary.invalid} simulated events failed validation`);

  t = performance.now();
  const naive = naiveFloor(sim.events, config, { learnUntil: sim.start + DAY });
  const naiveMs = performance.now() - t;

  return {
    seed,
    days: (sim.end - sim.start) / DAY,
    events: sim.events.length,
    identities: sim.identities,
    longLived: sim.longLived,
    replayMs,
    naiveMs,
    simulateMs,
    warden: scoreLabelled(decisions, sim.labels, opts.graceMs),
    naive: scoreLabelled(naive, sim.labels, opts.graceMs),
  };
}
