import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { WardenError, errorMessage } from '../errors.js';
import { INTENSITIES, type Incident } from '../sim/labels.js';
import type { DecisionLike } from './score.js';

export interface DecisionsFile {
  /** The `kind: "detection"` lines. */
  decisions: DecisionLike[];
  /** From the replay summary line, when there is one. */
  identityHours?: number;
}

function invalid(file: string, where: string, message: string): WardenError {
  return new WardenError('EVAL_INPUT_INVALID', `${file}: ${where}: ${message}`);
}

const show = (v: unknown): string => (v === undefined ? 'nothing' : JSON.stringify(v) ?? String(v));
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function open(file: string): Readable {
  const raw = createReadStream(file);
  return file.endsWith('.gz') ? raw.pipe(createGunzip()) : raw;
}

/** Reads replay output (JSON Lines, gzip ok): detections, and identityHours from the summary line. */
export async function readDecisions(file: string): Promise<DecisionsFile> {
  const out: DecisionsFile = { decisions: [] };
  let lineNo = 0;
  try {
    for await (const line of createInterface({ input: open(file), crlfDelay: Infinity })) {
      lineNo++;
      if (line.trim() === '') continue;
      let rec: unknown;
      try {
        rec = JSON.parse(line);
      } catch (err) {
        throw invalid(file, `line ${lineNo}`, `not JSON (${errorMessage(err)})`);
      }
      if (!isRecord(rec)) throw invalid(file, `line ${lineNo}`, `expected an object, got ${show(rec)}`);
      if (rec.kind === 'detection') out.decisions.push(parseDecision(rec, file, lineNo));
      else if (rec.kind === 'summary' && typeof rec.identityHours === 'number' && Number.isFinite(rec.identityHours)) {
        out.identityHours = rec.identityHours;
      }
    }
  } catch (err) {
    if (err instanceof WardenError) throw err;
    throw new WardenError('EVAL_INPUT_INVALID', `${file}: cannot read decisions: ${errorMessage(err)}`, { cause: err });
  }
  return out;
}

function parseDecision(rec: Record<string, unknown>, file: string, lineNo: number): DecisionLike {
  const at = `line ${lineNo}`;
  if (typeof rec.identity !== 'string' || rec.identity === '') throw invalid(file, `${at} field "identity"`, `must be a non-empty string, got ${show(rec.identity)}`);
  if (typeof rec.ts !== 'number' || !Number.isFinite(rec.ts)) throw invalid(file, `${at} field "ts"`, `must be a number (ms since the epoch), got ${show(rec.ts)}`);
  const d: DecisionLike = { identity: rec.identity, ts: rec.ts };
  if (rec.chain !== undefined && rec.chain !== null) {
    if (!Array.isArray(rec.chain) || !rec.chain.every((c) => typeof c === 'string')) {
      throw invalid(file, `${at} field "chain"`, `must be an array of strings, got ${show(rec.chain)}`);
    }
    d.chain = rec.chain as string[];
  }
  if (typeof rec.decision === 'string') d.decision = rec.decision;
  if (typeof rec.detector === 'string') d.detector = rec.detector;
  if (typeof rec.rule === 'string') d.rule = rec.rule;
  if (typeof rec.reason === 'string') d.reason = rec.reason;
  return d;
}

/** Reads a labelled incidents file: a JSON array of {identity, start, end, label?}. */
export async function readIncidents(file: string): Promise<Incident[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new WardenError('EVAL_INPUT_INVALID', `${file}: cannot read incidents: ${errorMessage(err)}`, { cause: err });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw invalid(file, 'incidents', `not JSON (${errorMessage(err)})`);
  }
  return parseIncidents(value, file);
}

export function parseIncidents(value: unknown, file: string): Incident[] {
  if (!Array.isArray(value)) throw invalid(file, 'incidents', `expected a JSON array of {identity, start, end, label?}, got ${show(value)}`);
  return value.map((item: unknown, i) => {
    const at = `incidents[${i}]`;
    if (!isRecord(item)) throw invalid(file, at, `expected an object, got ${show(item)}`);
    const { identity, start, end, label, kind, intensity, role, detail } = item;
    if (typeof identity !== 'string' || identity === '') throw invalid(file, `${at}.identity`, `must be a non-empty string, got ${show(identity)}`);
    if (typeof start !== 'number' || !Number.isFinite(start)) throw invalid(file, `${at}.start`, `must be a number (ms since the epoch), got ${show(start)}`);
    if (typeof end !== 'number' || !Number.isFinite(end)) throw invalid(file, `${at}.end`, `must be a number (ms since the epoch), got ${show(end)}`);
    if (end < start) throw invalid(file, `${at}.end`, `must not be before start (${start}), got ${end}`);
    if (label !== undefined && typeof label !== 'string') throw invalid(file, `${at}.label`, `must be a string, got ${show(label)}`);
    const inc: Incident = { identity, start, end, label: label ?? `incident-${i}` };
    if (kind !== undefined) {
      if (typeof kind !== 'string' || kind === '') throw invalid(file, `${at}.kind`, `must be a non-empty string, got ${show(kind)}`);
      inc.kind = kind;
    }
    if (intensity !== undefined) {
      if (!(INTENSITIES as readonly unknown[]).includes(intensity)) throw invalid(file, `${at}.intensity`, `must be one of ${INTENSITIES.join('|')}, got ${show(intensity)}`);
      inc.intensity = intensity as Incident['intensity'];
    }
    if (role !== undefined) {
      if (role !== 'incident' && role !== 'low' && role !== 'confounder') throw invalid(file, `${at}.role`, `must be one of incident|low|confounder, got ${show(role)}`);
      inc.role = role;
    }
    if (typeof detail === 'string') inc.detail = detail;
    return inc;
  });
}
