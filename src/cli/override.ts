import { registry } from '../../detectors/index.js';
import { join } from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import { formatDuration, parseDuration } from '../config/duration.js';
import { formatIssue, type ConfigIssue } from '../config/errors.js';
import { validateConfigDir } from '../config/load.js';
import { freeName, isOverrideFile, overrideFile, removeExpiredFile, removeOverrideFile, writeAtomically } from '../config/override-files.js';
import type { Override } from '../config/types.js';
import { WardenError } from '../errors.js';
import { parse } from './args.js';
import { TIME } from './render-demo.js';

const NAMES = registry.map((d) => d.name).join('|');
const USAGE = `usage: warden override add (--identity GLOB | --agent-class GLOB)...
           (--detector ${NAMES} (--mode shadow|alert|enforce | --off) | --set detectors.PATH=VALUE)...
           --owner WHO --reason WHY (--for DURATION | --until TIME) [--config DIR]
       warden override list [--json] [--config DIR]
       warden override remove NAME|--expired [--config DIR]

Temporary exceptions to the detector settings, one YAML file each in
DIR/overrides/ (DIR: --config, default ./config). The service picks files up by
hot reload; every replica must see the same DIR.

add     writes DIR/overrides/<UTC time>-<name>.yaml, after checking it together
        with the whole config directory; on any problem it writes nothing.
        --identity/--agent-class: whom it applies to (globs; both: both must match).
        --detector D --mode M sets detectors.D.mode; --detector D --off disables D.
        --set detectors.PATH=VALUE sets any other key of detectors.yaml (VALUE is
        YAML: 10, 30m, false, [a, b]); repeatable.
        --owner (required, no default) and --reason say whose it is and why.
        --for 2h or --until 2026-11-22T16:00:00Z: every override from the CLI
        expires, in event time. Permanent ones go in detectors.yaml, by review.
list    every override, detectors.yaml's then DIR/overrides/, in the order they
        apply, with whether each is active now by the wall clock.
remove  deletes DIR/overrides/NAME (a file name, or a path to it); --expired
        deletes every override file whose expiry has passed by the wall clock.`;

const FLAGS = new Map<string, readonly string[]>([
  ['add', ['identity', 'agent-class', 'detector', 'mode', 'off', 'set', 'owner', 'reason', 'for', 'until']],
  ['list', ['json']],
  ['remove', ['expired']],
]);

const OPTIONS = {
  config: { type: 'string', short: 'c', default: 'config' },
  identity: { type: 'string' },
  'agent-class': { type: 'string' },
  detector: { type: 'string' },
  mode: { type: 'string' },
  off: { type: 'boolean' },
  set: { type: 'string', multiple: true },
  owner: { type: 'string' },
  reason: { type: 'string' },
  for: { type: 'string' },
  until: { type: 'string' },
  json: { type: 'boolean' },
  expired: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;
type Values = ReturnType<typeof parse<typeof OPTIONS>>['values'];

const usage = (msg: string): WardenError => new WardenError('CLI_USAGE', `${msg}\n\n${USAGE}`);
const out = (s: string): void => void process.stdout.write(s);

function printIssues(head: string, issues: ConfigIssue[]): void {
  process.stderr.write(`${head}: ${issues.length} problem${issues.length === 1 ? '' : 's'}\n`);
  for (const issue of issues) process.stderr.write(`  ${formatIssue(issue)}\n`);
}

export async function overrideCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, OPTIONS, USAGE);
  const [sub, ...rest] = positionals;
  if (values.help) {
    out(USAGE + '\n');
    return 0;
  }
  if (sub === undefined) throw usage('override needs a command (add, list or remove)');
  const flags = FLAGS.get(sub);
  if (flags === undefined) throw usage(`unknown override command "${sub}" (add, list or remove)`);
  for (const k of Object.keys(values)) {
    if (k !== 'config' && k !== 'help' && !flags.includes(k)) throw usage(`--${k} is not an option of override ${sub}`);
  }
  const extra = sub === 'remove' ? rest.slice(1) : rest;
  if (extra.length > 0) throw usage(`unexpected argument "${extra[0]}" for override ${sub}`);
  const now = Date.now();
  if (sub === 'add') return add(values.config, values, now);
  if (sub === 'list') return list(values.config, values.json === true, now);
  return remove(values.config, rest[0], values.expired === true, now);
}

// ---- add

interface Setting { path: string[]; value: unknown; flag: string }

function parseSet(arg: string): Setting {
  const eq = arg.indexOf('=');
  const key = eq < 0 ? arg : arg.slice(0, eq);
  const path = key.split('.');
  if (eq < 0 || path[0] !== 'detectors' || path.length < 2 || path.includes('')) {
    throw usage(`--set ${arg}: expected detectors.PATH=VALUE, e.g. --set detectors.rate.baseline.short.ratio=10 (match, owner, reason and expiry have options of their own)`);
  }
  let value: unknown;
  try {
    value = parseYaml(arg.slice(eq + 1));
  } catch (err) {
    throw usage(`--set ${key}: the value is not YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  // null or empty reads as "absent" in the schema: the override would silently change nothing.
  if (value === null || value === undefined) throw usage(`--set ${key} needs a value`);
  return { path: path.slice(1), value, flag: `--set ${key}` };
}

const isPrefix = (a: string[], b: string[]): boolean => a.length <= b.length && a.every((s, i) => s === b[i]);

function detectorsTree(v: Values): Record<string, unknown> {
  const settings: Setting[] = [];
  if (v.detector !== undefined) {
    if (v.mode !== undefined && v.off) throw usage('--mode and --off: give one (--off disables the detector, so no mode applies)');
    if (v.mode === undefined && !v.off) throw usage(`--detector ${v.detector} needs --mode shadow|alert|enforce or --off`);
    settings.push(v.off ? { path: [v.detector, 'enabled'], value: false, flag: '--off' } : { path: [v.detector, 'mode'], value: v.mode, flag: `--mode ${v.mode}` });
  } else if (v.mode !== undefined || v.off) {
    throw usage(`${v.off ? '--off' : '--mode'} needs --detector ${NAMES}`);
  }
  for (const arg of v.set ?? []) settings.push(parseSet(arg));
  if (settings.length === 0) throw usage('override add needs something to change: --detector with --mode or --off, or --set detectors.PATH=VALUE');

  const tree: Record<string, unknown> = {};
  settings.forEach((s, i) => {
    const clash = settings.slice(0, i).find((p) => isPrefix(p.path, s.path) || isPrefix(s.path, p.path));
    if (clash) throw usage(`${clash.flag} and ${s.flag} set the same setting; give it once`);
    let node = tree;
    for (const seg of s.path.slice(0, -1)) {
      if (!Object.hasOwn(node, seg)) define(node, seg, {});
      node = node[seg] as Record<string, unknown>;
    }
    define(node, s.path[s.path.length - 1]!, s.value);
  });
  return tree;
}

// defineProperty, not assignment: a segment like __proto__ must stay a key for the schema to refuse.
function define(o: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
}

function required(value: string | undefined, flag: string, example: string): string {
  if (value === undefined || value.trim() === '') throw usage(`override add needs --${flag} ${example}`);
  return value.trim();
}

/** What goes in `expires`: an ISO time for --for, --until as given (ms if all digits). */
function expires(v: Values, now: number): string | number {
  if ((v.for === undefined) === (v.until === undefined)) {
    throw usage(v.for === undefined ? 'override add needs --for DURATION (e.g. 2h) or --until TIME (e.g. 2026-11-22T16:00:00Z): overrides from the CLI always expire' : '--for and --until: give one');
  }
  if (v.until !== undefined) return /^\d+$/.test(v.until) ? Number(v.until) : v.until;
  const d = parseDuration(v.for);
  if (!d.ok) throw usage(`--for: ${d.reason}`);
  if (d.ms === 0) throw usage('--for must be longer than 0');
  const at = new Date(Math.round((now + d.ms) / 1000) * 1000);
  if (!Number.isFinite(at.getTime())) throw usage(`--for ${v.for} is too far in the future`);
  return at.toISOString().replace('.000Z', 'Z');
}

async function add(dir: string, v: Values, now: number): Promise<number> {
  const match: { identity?: string; agentClass?: string } = {};
  if (v.identity !== undefined) match.identity = v.identity;
  if (v['agent-class'] !== undefined) match.agentClass = v['agent-class'];
  const of = match.identity ?? match.agentClass;
  if (of === undefined) throw usage('override add needs --identity GLOB and/or --agent-class GLOB (whom it applies to)');
  const detectors = detectorsTree(v);
  const owner = required(v.owner, 'owner', 'WHO (e.g. alice@acme.example)');
  const reason = required(v.reason, 'reason', 'WHY (e.g. "bulk re-send after INC-1234")');
  const text =
    `# Written by warden override add at ${new Date(now).toISOString()} (wall clock).\n` +
    '# It stops applying when event time reaches `expires`.\n' +
    stringify({ match, detectors, owner, reason, expires: expires(v, now) });

  const name = await freeName(dir, now, of);
  const file = join(dir, 'overrides', name);
  const r = await validateConfigDir(dir, { extra: { name: `overrides/${name}`, text } });
  if (!r.ok) {
    printIssues(`${file} not written (checked with the whole config in ${dir})`, r.issues);
    return 1;
  }
  const at = r.config.overrides.find((o) => o.source === file)?.expiresAt;
  if (at === undefined) throw new Error(`${file} validated but is missing from the config`);
  if (at <= now) throw usage(`--until ${v.until} has already passed (now ${new Date(now).toISOString()})`);
  await writeAtomically(file, text);
  // Only what this file adds: a class glob with no manifest is likely a typo.
  for (const w of r.warnings) if (w.file === file) process.stderr.write(`warning: ${formatIssue(w)}\n`);
  out(`wrote ${file}\n  expires ${TIME(at)} UTC in event time (in ${formatDuration(Math.round((at - now) / 1000) * 1000)} by the wall clock)\n`);
  out(`  the service applies it on its next config reload (it watches ${dir})\n`);
  return 0;
}

// ---- list

/** Fields back in file terms: bucketMs 300000 → bucket=5m. */
function changes(tree: unknown, prefix = ''): string[] {
  if (typeof tree !== 'object' || tree === null || Array.isArray(tree) || Object.getPrototypeOf(tree) !== Object.prototype) {
    const s = Array.isArray(tree) ? `[${tree.map(String).join(', ')}]` : String(tree);
    return [`${prefix}=${s}`];
  }
  return Object.entries(tree).flatMap(([k, v]) => {
    const ms = k.endsWith('Ms') && typeof v === 'number';
    const key = prefix === '' ? (ms ? k.slice(0, -2) : k) : `${prefix}.${ms ? k.slice(0, -2) : k}`;
    return ms ? [`${key}=${formatDuration(v)}`] : changes(v, key);
  });
}

function status(o: Override, now: number): 'permanent' | 'active' | 'expired' {
  return o.expiresAt === undefined ? 'permanent' : o.expiresAt <= now ? 'expired' : 'active';
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}

async function list(dir: string, json: boolean, now: number): Promise<number> {
  const r = await validateConfigDir(dir);
  if (!r.ok) {
    printIssues(`${dir}`, r.issues);
    return 1;
  }
  const all = r.config.overrides;
  if (json) {
    for (const o of all) {
      out(JSON.stringify({
        source: o.source, kind: isOverrideFile(dir, o) ? 'file' : 'detectors.yaml', status: status(o, now), match: o.match,
        changes: changes(o.detectors), detectors: o.detectors,
        owner: o.owner ?? null, reason: o.reason ?? null, expires: o.expiresAt === undefined ? null : new Date(o.expiresAt).toISOString(),
      }) + '\n');
    }
    return 0;
  }
  if (all.length === 0) return out(`no overrides in ${dir}\n`), 0;
  const head = ['status', 'expires (UTC, event time)', 'source', 'match', 'changes', 'owner', 'reason'];
  const rows = all.map((o) => [
    status(o, now), o.expiresAt === undefined ? '-' : TIME(o.expiresAt), o.source,
    [o.match.identity && `identity=${o.match.identity.source}`, o.match.agentClass && `agentClass=${o.match.agentClass.source}`].filter(Boolean).join(' '),
    changes(o.detectors).join(' '), o.owner ?? '-', o.reason ?? '-',
  ]);
  out(table([head, ...rows]) + '\n(status by the wall clock; the service applies each until event time reaches its expiry)\n');
  return 0;
}

// ---- remove

async function remove(dir: string, target: string | undefined, expired: boolean, now: number): Promise<number> {
  if (expired && target !== undefined) throw usage('give NAME or --expired, not both');
  if (target !== undefined) {
    const file = await overrideFile(dir, target);
    await removeOverrideFile(file);
    out(`removed ${file}\n`);
    return 0;
  }
  if (!expired) throw usage('override remove needs NAME (a file in DIR/overrides/) or --expired');
  const r = await validateConfigDir(dir);
  if (!r.ok) {
    printIssues(`cannot tell which overrides expired, ${dir}`, r.issues);
    process.stderr.write('  (remove a broken override file by NAME)\n');
    return 1;
  }
  const gone = r.config.overrides.filter((o) => isOverrideFile(dir, o) && status(o, now) === 'expired');
  for (const o of gone) {
    await removeExpiredFile(o.source);
    out(`removed ${o.source} (expired ${TIME(o.expiresAt!)} UTC)\n`);
  }
  if (gone.length === 0) out(`no expired override files in ${join(dir, 'overrides')}\n`);
  return 0;
}
