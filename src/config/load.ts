import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import { ConfigError, type ConfigIssue } from './errors.js';
import { deepFreeze, formatPath, type Issues, type Path } from './schema.js';
import type { AnyDetector } from '../detector.js';
import type { Manifest, Override, WardenConfig } from './types.js';
import { validateDetectorsFile, validateManifest, validateOverride } from './validate.js';
import { configWarnings } from './warnings.js';
import { ALERTS_FILE, NO_ALERTS, validateAlertsFile } from '../alerts/config.js';

/** `warnings`: what the config may get wrong that it cannot know (src/config/warnings.ts); they never stop a start. */
export type ValidateResult = { ok: true; config: WardenConfig; warnings: ConfigIssue[] } | { ok: false; issues: ConfigIssue[] };

export interface ExtraFile {
  /** Relative to the config dir: `detectors.yaml`, `agents/<x>.yaml` or `overrides/<x>.yaml`. */
  name: string;
  text: string;
}
export interface ValidateOptions {
  /** Validated as if it were in the directory (replacing a file of that name), so a tool can check a file before writing it. */
  extra?: ExtraFile;
  /** The detectors whose config `detectors.yaml` holds; default the built-in registry. */
  detectors?: readonly AnyDetector[];
  /**
   * Where alerts.yaml's `secretEnv`/`routingKeyEnv` are read: with it a variable
   * not set is an issue (as `warden run` needs them); without, they are not checked.
   */
  env?: NodeJS.ProcessEnv;
}

interface SourceFile {
  /** Relative to the config dir, for the version hash. */
  name: string;
  file: string;
  text: string;
}

interface Parsed {
  raw: unknown;
  /** Issues for this file, with lines taken from its YAML nodes. */
  issues: Issues;
  lineOf(at: Path): number | undefined;
}

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | null)?.code === 'ENOENT';
}

async function readOptional(dir: string, name: string, extra?: ExtraFile): Promise<SourceFile | undefined> {
  const file = join(dir, name);
  if (extra?.name === name) return { name, file, text: extra.text };
  try {
    return { name, file, text: await readFile(file, 'utf8') };
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

const YAML_FILE = /^[^./][^/]*\.ya?ml$/;

/** Sorted `sub/<name>` for the YAML files in DIR/sub (dotfiles skipped: editors' and `override add`'s temp files). */
async function listYaml(dir: string, sub: string): Promise<string[]> {
  try {
    const entries = await readdir(join(dir, sub), { withFileTypes: true });
    // Kubernetes mounts each ConfigMap key as a symlink.
    return entries.filter((e) => (e.isFile() || e.isSymbolicLink()) && YAML_FILE.test(e.name)).map((e) => `${sub}/${e.name}`).sort();
  } catch (err) {
    if (isNotFound(err)) return [];
    throw err;
  }
}

/** The files of DIR/sub, with `extra` in place of (or beside) the file of its name. */
async function readAll(dir: string, sub: string, extra: ExtraFile | undefined): Promise<(SourceFile | undefined)[]> {
  const names = await listYaml(dir, sub);
  if (extra !== undefined && extra.name.startsWith(`${sub}/`) && !names.includes(extra.name)) names.push(extra.name);
  return Promise.all(names.sort().map((n) => readOptional(dir, n, extra)));
}

function start(node: unknown): number | undefined {
  return (node as { range?: [number, number, number] } | null)?.range?.[0];
}

/** The line of the deepest node along `at` that exists: the key itself when the path ends on a map key. */
export function lineIn(doc: Document, lc: LineCounter, at: Path): number | undefined {
  let node: unknown = doc.contents;
  let pos = start(node);
  for (const seg of at) {
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === seg);
      if (pair === undefined) break;
      pos = start(pair.key) ?? pos;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      node = node.items[seg];
      pos = start(node) ?? pos;
    } else break;
  }
  return pos === undefined ? undefined : lc.linePos(pos).line;
}

function parse(src: SourceFile, out: ConfigIssue[]): Parsed | undefined {
  const lineCounter = new LineCounter();
  const doc = parseDocument(src.text, { lineCounter, prettyErrors: false });
  const lineOf = (at: Path) => lineIn(doc, lineCounter, at);
  const issues: Issues = {
    add: (at, message) => out.push({ file: src.file, path: formatPath(at), line: lineOf(at), message }),
  };
  if (doc.errors.length > 0) {
    for (const e of doc.errors) {
      out.push({ file: src.file, path: '', line: lineCounter.linePos(e.pos[0]).line, message: `YAML syntax error: ${e.message}` });
    }
    return undefined;
  }
  try {
    return { raw: doc.toJS({ maxAliasCount: 100 }), issues, lineOf };
  } catch (err) {
    out.push({ file: src.file, path: '', message: `YAML error: ${(err as Error).message}` });
    return undefined;
  }
}

function digest(files: SourceFile[]): string {
  const h = createHash('sha256');
  for (const f of [...files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    h.update(f.name).update('\u0000').update(f.text).update('\u0000');
  }
  return h.digest('hex').slice(0, 12);
}

/**
 * A pinned `version` names the reviewed detectors.yaml; override files are not
 * reviewed, so they still show in it (decisions' evidence says they were in
 * force, and the reloader, which skips an unchanged version, sees them come and go).
 * alerts.yaml shows the same way, so a change of receivers is reloaded too.
 */
function versionOf(pinned: string | undefined, all: SourceFile[], overrideFiles: SourceFile[], alerts: SourceFile | undefined): string {
  if (pinned === undefined) return `sha256:${digest(all)}`;
  let v = overrideFiles.length === 0 ? pinned : `${pinned}+overrides:${digest(overrideFiles)}`;
  if (alerts !== undefined) v += `+alerts:${digest([alerts])}`;
  return v;
}

function checkExtra(extra: ExtraFile | undefined): void {
  if (extra === undefined || extra.name === 'detectors.yaml' || extra.name === ALERTS_FILE) return;
  const [sub, base, more] = extra.name.split('/');
  if ((sub !== 'agents' && sub !== 'overrides') || more !== undefined || base === undefined || !YAML_FILE.test(base)) {
    throw new TypeError(`extra config file "${extra.name}" must be detectors.yaml, ${ALERTS_FILE}, agents/<name>.yaml or overrides/<name>.yaml`);
  }
}

/**
 * Reads DIR/detectors.yaml (optional), DIR/agents/*.y{a,}ml, DIR/overrides/*.y{a,}ml
 * (one override each, applied after detectors.yaml's, in file-name order) and
 * DIR/alerts.yaml (optional); collects every issue instead of stopping at the first.
 */
export async function validateConfigDir(dir: string, opts: ValidateOptions = {}): Promise<ValidateResult> {
  const { extra, detectors, env } = opts;
  checkExtra(extra);
  const issues: ConfigIssue[] = [];
  try {
    if (!(await stat(dir)).isDirectory()) issues.push({ file: dir, path: '', message: 'config path is not a directory' });
  } catch (err) {
    if (!isNotFound(err)) throw err;
    issues.push({ file: dir, path: '', message: 'config directory not found (expected detectors.yaml and agents/*.yaml in it)' });
  }
  if (issues.length > 0) return { ok: false, issues };

  const [detectorsSrc, manifestSrcs, overrideSrcs, alertsSrc] = await Promise.all([
    readOptional(dir, 'detectors.yaml', extra),
    readAll(dir, 'agents', extra),
    readAll(dir, 'overrides', extra),
    readOptional(dir, ALERTS_FILE, extra),
  ]);

  const detectorsFile = join(dir, 'detectors.yaml');
  const parsedDetectors = detectorsSrc === undefined ? { raw: undefined, issues: fileIssues(detectorsFile, issues) } : parse(detectorsSrc, issues);
  const lines = new Map<string, Parsed['lineOf']>();
  if (parsedDetectors && 'lineOf' in parsedDetectors) lines.set(detectorsFile, parsedDetectors.lineOf);
  const settings = parsedDetectors && validateDetectorsFile(parsedDetectors.raw, detectorsFile, parsedDetectors.issues, detectors);

  const manifests = new Map<string, Manifest>();
  const sources: SourceFile[] = detectorsSrc === undefined ? [] : [detectorsSrc];
  for (const src of manifestSrcs) {
    if (src === undefined) continue; // deleted between readdir and read
    sources.push(src);
    const parsed = parse(src, issues);
    if (parsed) lines.set(src.file, parsed.lineOf);
    const m = parsed && validateManifest(parsed.raw, src.file, parsed.issues);
    if (!parsed || !m) continue;
    const prior = manifests.get(m.agentClass);
    if (prior !== undefined) {
      parsed.issues.add(['agentClass'], `duplicate agentClass "${m.agentClass}": also defined in ${prior.file}`);
      continue;
    }
    manifests.set(m.agentClass, m);
  }

  const overrideFiles: SourceFile[] = [];
  const fileOverrides: Override[] = [];
  for (const src of overrideSrcs) {
    if (src === undefined) continue;
    overrideFiles.push(src);
    const parsed = parse(src, issues);
    if (parsed) lines.set(src.file, parsed.lineOf);
    const o = parsed && validateOverride(parsed.raw, src.file, parsed.issues, settings?.detectors, detectors);
    if (o) fileOverrides.push(o);
  }

  let alerts = NO_ALERTS;
  if (alertsSrc !== undefined) {
    const parsed = parse(alertsSrc, issues);
    alerts = (parsed && validateAlertsFile(parsed.raw, alertsSrc.file, parsed.issues, env)) || NO_ALERTS;
  }

  if (issues.length > 0 || !settings) return { ok: false, issues };
  const all = [...sources, ...overrideFiles, ...(alertsSrc === undefined ? [] : [alertsSrc])];
  const config: WardenConfig = {
    version: versionOf(settings.version, all, overrideFiles, alertsSrc),
    dir,
    detectors: settings.detectors,
    breaker: settings.breaker,
    suppression: settings.suppression,
    overrides: [...settings.overrides, ...fileOverrides],
    manifests,
    alerts,
  };
  const warnings = configWarnings(config, (file, at) => lines.get(file)?.(at));
  return { ok: true, config: deepFreeze(config), warnings };
}

function fileIssues(file: string, out: ConfigIssue[]): Issues {
  return { add: (at, message) => out.push({ file, path: formatPath(at), message }) };
}

/** Throws ConfigError listing every issue. */
export async function loadConfig(dir: string, opts: ValidateOptions = {}): Promise<WardenConfig> {
  const r = await validateConfigDir(dir, opts);
  if (!r.ok) throw new ConfigError(r.issues);
  return r.config;
}
