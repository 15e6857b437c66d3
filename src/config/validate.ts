import { DEFAULT_DETECTORS_FILE, DEFAULT_MANIFEST } from './defaults.js';
import { mergeDetectors } from './resolve.js';
import {
  array, boolean, duration, glob, integer, number, object, oneOf, partial, run, string, timestamp,
  type Issues, type Schema,
} from './schema.js';
import type { BreakerConfig, ChainConfig, DetectorsConfig, Manifest, Override, RateConfig, ScopeConfig } from './types.js';

const SECOND = 1000;

const common = {
  enabled: boolean(),
  mode: oneOf(['shadow', 'alert', 'enforce']),
  severity: oneOf(['low', 'medium', 'high', 'critical']),
  scope: oneOf(['identity', 'action']),
};

const rate: Schema<RateConfig> = object({
  ...common,
  limits: boolean(),
  baseline: object({
    enabled: boolean(),
    bucketMs: duration({ min: SECOND }).from('bucket'),
    learningPeriodMs: duration().from('learningPeriod'),
    alpha: number({ gt: 0, max: 1 }),
    peakHalfLifeMs: duration({ min: 1 }).from('peakHalfLife'),
    multiplier: number({ min: 1 }),
    zScore: number({ min: 0 }),
    minEvents: integer({ min: 0 }),
    minBuckets: integer({ min: 0 }),
  }),
});

type Learned = ScopeConfig['learned'];

function prefixScoresMismatch(l: Partial<Learned>): string | undefined {
  if (l.prefixScores === undefined || l.prefixDepth === undefined || l.prefixScores.length === l.prefixDepth) return undefined;
  return `has ${l.prefixScores.length} entries but prefixDepth is ${l.prefixDepth}; give one score per depth`;
}

const scope: Schema<ScopeConfig> = object({
  ...common,
  manifest: boolean(),
  unknownClass: oneOf(['ignore', 'alert']),
  writeActions: array(glob()),
  learned: object({
    enabled: boolean(),
    learningPeriodMs: duration().from('learningPeriod'),
    prefixDepth: integer({ min: 1, max: 16 }),
    actionScore: number({ min: 0 }),
    prefixScores: array(number({ min: 0 })),
    threshold: number({ gt: 0 }),
    maxSeen: integer({ min: 1 }),
  }).check((l, report) => {
    const m = prefixScoresMismatch(l);
    if (m !== undefined) report(['prefixScores'], m);
  }),
});

const chain: Schema<ChainConfig> = object({
  ...common,
  maxDepth: integer({ min: 1 }),
  maxFanOut: integer({ min: 1 }),
  fanOutWindowMs: duration({ min: SECOND }).from('fanOutWindow'),
  spawnActions: array(glob()),
  cycles: boolean(),
});

const detectors: Schema<DetectorsConfig> = object({ rate, scope, chain });

const breaker: Schema<BreakerConfig> = object({
  ttlMs: duration({ min: SECOND }).from('ttl'),
  maxTtlMs: duration({ min: SECOND }).from('maxTtl'),
  probationMs: duration().from('probation'),
  probationActions: integer({ min: 0, max: 1_000_000 }),
  forgiveAfterMs: duration().from('forgiveAfter'),
  fleetGuard: object({
    enabled: boolean(),
    maxPercent: number({ gt: 0, max: 100 }),
    alwaysAllow: integer({ min: 0 }),
    activeWindowMs: duration({ min: SECOND }).from('activeWindow'),
  }),
}).check((b, report) => {
  if (b.maxTtlMs < b.ttlMs) report(['maxTtl'], 'must be >= ttl');
});

const override = object({
  match: object({ agentClass: glob().optional(), identity: glob().optional() }).check((m, report) => {
    if (m.agentClass === undefined && m.identity === undefined) report([], 'needs at least one of agentClass, identity');
  }),
  detectors: partial(detectors),
  owner: string({ nonEmpty: true }).optional(),
  reason: string({ nonEmpty: true }).optional(),
  expiresAt: timestamp().from('expires').optional(),
}).check((o, report) => {
  // A temporary exception must say whose it is and why.
  if (o.expiresAt !== undefined && o.owner === undefined) report(['owner'], 'an override that expires needs an owner');
  if (o.expiresAt !== undefined && o.reason === undefined) report(['reason'], 'an override that expires needs a reason');
});

const detectorsFile = object({
  version: string({ nonEmpty: true }).optional(),
  detectors,
  breaker,
  overrides: array(override),
});

export interface DetectorsFile {
  version?: string;
  detectors: DetectorsConfig;
  breaker: BreakerConfig;
  overrides: Override[];
}

/** `raw` is the parsed YAML (null or undefined for an absent or empty file). */
export function validateDetectorsFile(raw: unknown, file: string, issues: Issues): DetectorsFile | undefined {
  const out = run(detectorsFile, raw ?? {}, issues, DEFAULT_DETECTORS_FILE);
  if (out === undefined) return undefined;
  const overrides = out.overrides.map((o, i): Override => ({ source: `${file} overrides[${i}]`, ...o }));
  let ok = true;
  // An override may change only one of prefixDepth/prefixScores; check the merged result.
  overrides.forEach((o, i) => {
    const l = o.detectors.scope?.learned;
    if (l === undefined || (l.prefixDepth === undefined) === (l.prefixScores === undefined)) return;
    const m = prefixScoresMismatch(mergeDetectors(out.detectors, o.detectors).scope.learned);
    if (m === undefined) return;
    const key = l.prefixDepth === undefined ? 'prefixScores' : 'prefixDepth';
    issues.add(['overrides', i, 'detectors', 'scope', 'learned', key], `after this override, prefixScores ${m}`);
    ok = false;
  });
  return ok ? { ...out, overrides } : undefined;
}

const manifest = object({
  agentClass: string({ pattern: /^[a-z0-9][a-z0-9._-]*$/ }),
  description: string().optional(),
  readOnly: boolean(),
  allow: array(object({ action: glob(), resource: glob() })),
  limits: array(object({ action: glob(), max: integer({ min: 1 }), windowMs: duration({ min: 1 }).from('window') })),
  delegation: object({
    maxDepth: integer({ min: 0 }).nullable(),
    maxChildren: integer({ min: 0 }).nullable(),
    windowMs: duration({ min: SECOND }).from('window').nullable(),
  }),
});

export function validateManifest(raw: unknown, file: string, issues: Issues): Manifest | undefined {
  const out = run(manifest, raw, issues, DEFAULT_MANIFEST);
  return out === undefined ? undefined : { ...out, file };
}

/**
 * One file of DIR/overrides/: the same schema as one item of detectors.yaml's
 * `overrides`, and the same check of prefixScores against the merged result
 * (skipped when detectors.yaml itself is invalid: `base` undefined).
 */
export function validateOverride(raw: unknown, file: string, issues: Issues, base: DetectorsConfig | undefined): Override | undefined {
  if (Array.isArray(raw)) return issues.add([], 'expected one override (a mapping), got a list: put each override in a file of its own'), undefined;
  const out = run(override, raw ?? {}, issues);
  if (out === undefined) return undefined;
  const l = out.detectors.scope?.learned;
  if (base !== undefined && l !== undefined && (l.prefixDepth === undefined) !== (l.prefixScores === undefined)) {
    const m = prefixScoresMismatch(mergeDetectors(base, out.detectors).scope.learned);
    if (m !== undefined) {
      issues.add(['detectors', 'scope', 'learned', l.prefixDepth === undefined ? 'prefixScores' : 'prefixDepth'], `after this override, prefixScores ${m}`);
      return undefined;
    }
  }
  return { source: file, ...out };
}
