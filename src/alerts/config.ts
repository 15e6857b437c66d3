import { registry } from '../../detectors/index.js';
import { validateConfigDir } from '../config/load.js';
import type { ConfigIssue } from '../config/errors.js';
import {
  array, deepFreeze, duration, integer, object, oneOf, run, Schema, string, type Issues,
} from '../config/schema.js';
import type { Severity } from '../config/types.js';
import type { Decision, DetectorName } from '../detector.js';

export const ALERTS_FILE = 'alerts.yaml';
export const FORMATS = ['generic', 'slack', 'pagerduty'] as const;
export const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const satisfies readonly Severity[];
export const DETECTORS: readonly DetectorName[] = registry.map((d) => d.name);
export const DECISIONS = ['alert', 'suspend'] as const satisfies readonly Decision[];

export type AlertFormat = (typeof FORMATS)[number];

export interface AlertReceiver {
  name: string;
  url: string;
  format: AlertFormat;
  minSeverity: Severity;
  detectors: string[];
  decisions: Decision[];
  secretEnv?: string;
  routingKeyEnv?: string;
  /** Linked from Slack and PagerDuty alerts; `{identity}` is replaced by the identity, percent-encoded. */
  statusUrl?: string;
  timeoutMs: number;
  maxAttempts: number;
  backoff: { baseMs: number; maxMs: number };
  /** Resolved from the environment at load; non-enumerable so the config can be logged or serialised without them. */
  readonly secret: string | null;
  readonly routingKey: string | null;
}

export interface AlertsConfig {
  /** The file read, or null when there is none (no receivers). */
  file: string | null;
  receivers: AlertReceiver[];
  grouping: { windowMs: number };
}

export type AlertsConfigResult = { ok: true; config: AlertsConfig } | { ok: false; issues: ConfigIssue[] };

const DEFAULT_RECEIVER = {
  minSeverity: 'high',
  detectors: [...DETECTORS],
  decisions: [...DECISIONS],
  timeout: '5s',
  maxAttempts: 10,
  backoff: { base: '500ms', max: '60s' },
};
const DEFAULT_FILE = { receivers: [], grouping: { window: '10m' } };

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

const httpUrl = (v: string, report: (rel: [], message: string) => void): void => {
  let u: URL | undefined;
  try {
    u = new URL(v);
  } catch {
    return report([], `"${v}" is not a URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') report([], `must be an http or https URL, got ${u.protocol}`);
};
const url = string({ nonEmpty: true }).check((v, report) => httpUrl(v, report));
const statusUrl = string({ nonEmpty: true }).check((v, report) => httpUrl(v.replaceAll('{identity}', 'x'), report));

const receiverFields = object({
  name: string({ pattern: /^[a-z0-9-]+$/ }),
  url,
  format: oneOf(FORMATS),
  minSeverity: oneOf(SEVERITIES),
  detectors: array(oneOf(DETECTORS)),
  decisions: array(oneOf(DECISIONS)),
  secretEnv: string({ pattern: ENV_NAME }).optional(),
  routingKeyEnv: string({ pattern: ENV_NAME }).optional(),
  statusUrl: statusUrl.optional(),
  timeoutMs: duration({ min: 1 }).from('timeout').check((v, report) => {
    if (v > 300_000) report([], 'must be at most 5m');
  }),
  maxAttempts: integer({ min: 1 }),
  backoff: object({ baseMs: duration({ min: 1 }).from('base'), maxMs: duration({ min: 1 }).from('max') }).check((b, report) => {
    if (b.maxMs < b.baseMs) report(['max'], 'must be >= base');
  }),
}).check((r, report) => {
  if (r.format === 'generic' && r.secretEnv === undefined) report(['secretEnv'], 'missing required key "secretEnv" (generic receivers are always signed)');
  if (r.format === 'pagerduty' && r.routingKeyEnv === undefined) report(['routingKeyEnv'], 'missing required key "routingKeyEnv" (PagerDuty needs a routing key)');
  if (r.format !== 'pagerduty' && r.routingKeyEnv !== undefined) report(['routingKeyEnv'], 'only for format pagerduty');
  if (r.format === 'generic' && r.statusUrl !== undefined) report(['statusUrl'], 'only for format slack or pagerduty');
});

// Lists hand their items no default tree, so each receiver brings its own.
const receiver = new Schema((v, at, cx) => receiverFields.parse(v, at, cx, DEFAULT_RECEIVER));

const alertsFile = object({
  receivers: array(receiver).check((rs, report) => {
    const seen = new Set<string>();
    rs.forEach((r, i) => {
      if (seen.has(r.name)) report([i, 'name'], `duplicate receiver name "${r.name}"`);
      seen.add(r.name);
    });
  }),
  grouping: object({ windowMs: duration().from('window') }),
});


export const NO_ALERTS: AlertsConfig = deepFreeze({ file: null, receivers: [], grouping: { windowMs: 600_000 } });

/**
 * Validates the parsed YAML of alerts.yaml. With `env`, the secrets are read
 * from it and a variable not set is an issue; without, they stay null (for
 * tools that never send an alert, and `validate-config --skip-env`).
 */
export function validateAlertsFile(raw: unknown, file: string, issues: Issues, env?: NodeJS.ProcessEnv): AlertsConfig | undefined {
  const out = run(alertsFile, raw ?? {}, issues, DEFAULT_FILE);
  if (out === undefined) return undefined;
  let ok = true;
  const fromEnv = (i: number, name: string, key: 'secretEnv' | 'routingKeyEnv', variable: string | undefined): string | null => {
    if (variable === undefined || env === undefined) return null;
    const value = env[variable];
    if (value !== undefined && value !== '') return value;
    issues.add(['receivers', i, key], `receiver "${name}": environment variable ${variable} is not set`);
    ok = false;
    return null;
  };
  const receivers = out.receivers.map((r, i): AlertReceiver => {
    const secret = fromEnv(i, r.name, 'secretEnv', r.secretEnv);
    const routingKey = fromEnv(i, r.name, 'routingKeyEnv', r.routingKeyEnv);
    const resolved = { ...r } as AlertReceiver;
    Object.defineProperty(resolved, 'secret', { value: secret, enumerable: false });
    Object.defineProperty(resolved, 'routingKey', { value: routingKey, enumerable: false });
    return resolved;
  });
  return ok ? { file, receivers, grouping: out.grouping } : undefined;
}

/** Same receivers, secrets included: a reload keeps its worker (and its pending follow-ups). */
export function sameReceiver(a: AlertReceiver, b: AlertReceiver): boolean {
  return JSON.stringify(a) === JSON.stringify(b) && a.secret === b.secret && a.routingKey === b.routingKey;
}

/**
 * The alerts part of the config in DIR, validated with the rest of it (an
 * alerts.yaml is config like any other: a problem anywhere refuses it all).
 */
export async function loadAlertsConfig(dir: string, env: NodeJS.ProcessEnv = process.env): Promise<AlertsConfigResult> {
  const r = await validateConfigDir(dir, { env });
  return r.ok ? { ok: true, config: r.config.alerts } : { ok: false, issues: r.issues };
}
