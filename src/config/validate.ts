import { registry as builtin } from '../../detectors/index.js';
import { SHAPES } from '../../detectors/resource-shapes.js';
import type { AnyDetector } from '../detector.js';
import { DEFAULT_DETECTORS_FILE, DEFAULT_MANIFEST } from './defaults.js';
import { mergeDetectors } from './resolve.js';
import {
  array, boolean, duration, glob, integer, number, object, oneOf, partial, run, string, timestamp,
  type Issues, type Schema,
} from './schema.js';
import type { BreakerConfig, DeepPartial, DetectorsConfig, Manifest, Override } from './types.js';
import type { SuppressConfig } from '../pipeline/suppress.js';
import { UNKNOWN_CLASS } from '../breaker/fleet-guard.js';
import { EVENT_LIMITS } from '../event/types.js';

const SECOND = 1000;

/** `detectors:` with one key per registered detector, each validated by that detector's own schema. */
function detectorsSchema(registry: readonly AnyDetector[]): Schema<DetectorsConfig> {
  return object(Object.fromEntries(registry.map((d) => [d.name, d.schema]))) as unknown as Schema<DetectorsConfig>;
}

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

const suppression: Schema<SuppressConfig> = object({
  windowMs: duration().from('window'),
  maxGroups: integer({ min: 1, max: 1000 }),
});

function overrideSchema(detectors: Schema<DetectorsConfig>) {
  return object({
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
}

interface Schemas {
  override: ReturnType<typeof overrideSchema>;
  file: Schema<{ version?: string | undefined; detectors: DetectorsConfig; breaker: BreakerConfig; suppression: SuppressConfig; overrides: Array<Omit<Override, 'source'>> }>;
  defaults: unknown;
}
const schemas = new WeakMap<readonly AnyDetector[], Schemas>();

function schemasFor(registry: readonly AnyDetector[]): Schemas {
  let s = schemas.get(registry);
  if (!s) {
    const detectors = detectorsSchema(registry);
    const override = overrideSchema(detectors);
    const file = object({ version: string({ nonEmpty: true }).optional(), detectors, breaker, suppression, overrides: array(override) });
    const defaults = registry === builtin
      ? DEFAULT_DETECTORS_FILE
      : { ...DEFAULT_DETECTORS_FILE, detectors: Object.fromEntries(registry.map((d) => [d.name, d.defaults])) };
    s = { override, file: file as unknown as Schemas['file'], defaults };
    schemas.set(registry, s);
  }
  return s;
}

/** Each detector's own check of what an override leaves after merging, reported under the override's path. */
function checkMerged(
  registry: readonly AnyDetector[], base: DetectorsConfig, patch: DeepPartial<DetectorsConfig>, at: (string | number)[], issues: Issues,
): boolean {
  let ok = true;
  const merged = mergeDetectors(base, patch) as unknown as Record<string, unknown>;
  const parts = patch as Record<string, unknown>;
  for (const d of registry) {
    if (d.checkMerged === undefined || parts[d.name] === undefined) continue;
    for (const [rel, message] of d.checkMerged(merged[d.name], parts[d.name] as object)) {
      issues.add([...at, d.name, ...rel], message);
      ok = false;
    }
  }
  return ok;
}

export interface DetectorsFile {
  version?: string;
  detectors: DetectorsConfig;
  breaker: BreakerConfig;
  suppression: SuppressConfig;
  overrides: Override[];
}

/** `raw` is the parsed YAML (null or undefined for an absent or empty file). */
export function validateDetectorsFile(raw: unknown, file: string, issues: Issues, registry: readonly AnyDetector[] = builtin): DetectorsFile | undefined {
  const sc = schemasFor(registry);
  const out = run(sc.file, raw ?? {}, issues, sc.defaults);
  if (out === undefined) return undefined;
  const overrides = out.overrides.map((o, i): Override => ({ source: `${file} overrides[${i}]`, ...o }));
  let ok = true;
  overrides.forEach((o, i) => {
    if (!checkMerged(registry, out.detectors, o.detectors, ['overrides', i, 'detectors'], issues)) ok = false;
  });
  return ok ? { ...out, overrides } : undefined;
}

/** What an event's agentClass may be, less whitespace and control characters (class names are rendered in alerts and tables). */
const CLASS_NAME = /^[^\s\p{Cc}\p{Cf}]+$/u;

const className = string({ nonEmpty: true }).check((v, report) => {
  if (!CLASS_NAME.test(v)) report([], `"${v}" must have no whitespace or control characters (any other string a platform uses is fine, e.g. role/DataPipeline)`);
  else if (v === UNKNOWN_CLASS) report([], `"${UNKNOWN_CLASS}" is reserved: the fleet guard counts unclassified identities under it`);
  else if (Buffer.byteLength(v) > EVENT_LIMITS.stringBytes) report([], `is longer than an event's agentClass may be (${EVENT_LIMITS.stringBytes} bytes)`);
});

const manifest = object({
  agentClass: className,
  identities: array(glob()),
  description: string().optional(),
  readOnly: boolean(),
  allow: array(object({ action: glob(), resource: glob() })),
  limits: array(object({ action: glob(), max: integer({ min: 1 }), windowMs: duration({ min: 1 }).from('window') })),
  resources: array(object({ match: glob(), shape: oneOf(SHAPES).optional(), depth: integer({ min: 0, max: 16 }).optional() })),
  maxInstances: integer({ min: 1 }).optional(),
  delegation: object({
    maxDepth: integer({ min: 0 }).nullable(),
    maxChildren: integer({ min: 0 }).nullable(),
    windowMs: duration({ min: SECOND }).from('window').nullable(),
  }),
});

export function validateManifest(raw: unknown, file: string, issues: Issues): Manifest | undefined {
  const out = run(manifest, raw, issues, DEFAULT_MANIFEST);
  if (out === undefined) return undefined;
  const resources = out.resources.map(({ match, shape, depth }) => (depth === undefined ? { match, shape: shape ?? 'auto' } : { match, shape: shape ?? 'auto', depth }));
  return { ...out, resources, file };
}

/**
 * One file of DIR/overrides/: the same schema as one item of detectors.yaml's
 * `overrides`, and the same check of prefixScores against the merged result
 * (skipped when detectors.yaml itself is invalid: `base` undefined).
 */
export function validateOverride(
  raw: unknown, file: string, issues: Issues, base: DetectorsConfig | undefined, registry: readonly AnyDetector[] = builtin,
): Override | undefined {
  if (Array.isArray(raw)) return issues.add([], 'expected one override (a mapping), got a list: put each override in a file of its own'), undefined;
  const out = run(schemasFor(registry).override, raw ?? {}, issues);
  if (out === undefined) return undefined;
  if (base !== undefined && !checkMerged(registry, base, out.detectors, ['detectors'], issues)) return undefined;
  return { source: file, ...out };
}
