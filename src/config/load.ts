import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import { ConfigError, type ConfigIssue } from './errors.js';
import { deepFreeze, formatPath, type Issues, type Path } from './schema.js';
import type { Manifest, WardenConfig } from './types.js';
import { validateDetectorsFile, validateManifest } from './validate.js';

export type ValidateResult = { ok: true; config: WardenConfig } | { ok: false; issues: ConfigIssue[] };

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

async function readOptional(dir: string, name: string): Promise<SourceFile | undefined> {
  const file = join(dir, name);
  try {
    return { name, file, text: await readFile(file, 'utf8') };
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

async function listManifests(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(join(dir, 'agents'), { withFileTypes: true });
    return entries
      .filter((e) => e.isFile() && !e.name.startsWith('.') && /\.ya?ml$/.test(e.name))
      .map((e) => `agents/${e.name}`)
      .sort();
  } catch (err) {
    if (isNotFound(err)) return [];
    throw err;
  }
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

function versionHash(files: SourceFile[]): string {
  const h = createHash('sha256');
  for (const f of [...files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    h.update(f.name).update('\u0000').update(f.text).update('\u0000');
  }
  return `sha256:${h.digest('hex').slice(0, 12)}`;
}

/** Reads DIR/detectors.yaml (optional) and DIR/agents/*.y{a,}ml; collects every issue instead of stopping at the first. */
export async function validateConfigDir(dir: string): Promise<ValidateResult> {
  const issues: ConfigIssue[] = [];
  try {
    if (!(await stat(dir)).isDirectory()) issues.push({ file: dir, path: '', message: 'config path is not a directory' });
  } catch (err) {
    if (!isNotFound(err)) throw err;
    issues.push({ file: dir, path: '', message: 'config directory not found (expected detectors.yaml and agents/*.yaml in it)' });
  }
  if (issues.length > 0) return { ok: false, issues };

  const [detectorsSrc, manifestSrcs] = await Promise.all([
    readOptional(dir, 'detectors.yaml'),
    listManifests(dir).then((names) => Promise.all(names.map((n) => readOptional(dir, n)))),
  ]);

  const detectorsFile = join(dir, 'detectors.yaml');
  const parsedDetectors = detectorsSrc === undefined ? { raw: undefined, issues: fileIssues(detectorsFile, issues) } : parse(detectorsSrc, issues);
  const settings = parsedDetectors && validateDetectorsFile(parsedDetectors.raw, detectorsFile, parsedDetectors.issues);

  const manifests = new Map<string, Manifest>();
  const sources: SourceFile[] = detectorsSrc === undefined ? [] : [detectorsSrc];
  for (const src of manifestSrcs) {
    if (src === undefined) continue; // deleted between readdir and read
    sources.push(src);
    const parsed = parse(src, issues);
    const m = parsed && validateManifest(parsed.raw, src.file, parsed.issues);
    if (!parsed || !m) continue;
    const prior = manifests.get(m.agentClass);
    if (prior !== undefined) {
      parsed.issues.add(['agentClass'], `duplicate agentClass "${m.agentClass}": also defined in ${prior.file}`);
      continue;
    }
    manifests.set(m.agentClass, m);
  }

  if (issues.length > 0 || !settings) return { ok: false, issues };
  const config: WardenConfig = {
    version: settings.version ?? versionHash(sources),
    dir,
    detectors: settings.detectors,
    breaker: settings.breaker,
    overrides: settings.overrides,
    manifests,
  };
  return { ok: true, config: deepFreeze(config) };
}

function fileIssues(file: string, out: ConfigIssue[]): Issues {
  return { add: (at, message) => out.push({ file, path: formatPath(at), message }) };
}

/** Throws ConfigError listing every issue. */
export async function loadConfig(dir: string): Promise<WardenConfig> {
  const r = await validateConfigDir(dir);
  if (!r.ok) throw new ConfigError(r.issues);
  return r.config;
}
