import type { DemoResult } from '../pipeline/demo.js';
import type { Detection } from '../detector.js';
import type { BreakerCommand } from '../breaker/types.js';
import { isoTime } from '../event/time.js';

/** Event time as `2026-11-18 03:00:26` (UTC) in every CLI view; any stored number prints (see isoTime). */
export const TIME = (ts: number): string => isoTime(ts, true);

/** spiffe://acme.example/agent/support-bot/7f3a → support-bot/7f3a */
export function shortIdentity(identity: string): string {
  const parts = identity.split('/');
  return parts.length >= 2 ? parts.slice(-2).join('/') : identity;
}

interface Group { first: Detection; count: number; lastTs: number }

/** A readable timeline: every breaker command, and the first detection of each (identity, detector, rule) with a repeat count. */
export function renderTimeline(result: DemoResult, color: boolean): string {
  const c = (code: string, s: string): string => (color ? `\u001b[${code}m${s}\u001b[0m` : s);
  const groups = new Map<string, Group>();
  type Line = { ts: number; order: number; text: () => string };
  const lines: Line[] = [];
  let order = 0;
  for (const item of result.items) {
    if (item.kind === 'detection') {
      const d = item.detection;
      const key = `${d.identity}\u0000${d.detector}\u0000${d.rule}`;
      const g = groups.get(key);
      if (g) {
        g.count++;
        g.lastTs = d.ts;
        continue;
      }
      const group: Group = { first: d, count: 1, lastTs: d.ts };
      groups.set(key, group);
      lines.push({
        ts: d.ts, order: order++,
        text: () => {
          const more = group.count > 1 ? c('2', ` (+${group.count - 1} more until ${TIME(group.lastTs).slice(11)})`) : '';
          const tag = d.decision === 'suspend' ? c('33', 'DETECT ') : c('36', 'ALERT  ');
          return `  ${TIME(d.ts)}  ${tag} ${shortIdentity(d.identity).padEnd(24)} ${`${d.detector}/${d.rule}`.padEnd(22)} ${d.reason}${more}`;
        },
      });
    } else if (item.kind === 'command') {
      const cmd = item.command;
      lines.push({ ts: cmd.issuedAt, order: order++, text: () => commandLine(cmd, c) });
    }
  }
  lines.sort((a, b) => a.ts - b.ts || a.order - b.order);
  return lines.map((l) => l.text()).join('\n');
}

function commandLine(cmd: BreakerCommand, c: (code: string, s: string) => string): string {
  const scope = cmd.scope === '*' ? 'whole identity' : `only ${cmd.scope}`;
  if (cmd.type === 'suspend') {
    const mins = Math.round(((cmd.until ?? cmd.issuedAt) - cmd.issuedAt) / 60_000);
    return `  ${TIME(cmd.issuedAt)}  ${c('1;31', 'SUSPEND')} ${shortIdentity(cmd.identity).padEnd(24)} ${scope.padEnd(22)} for ${mins} min (strike ${cmd.strike})${cmd.cascade ? ', sub-agents too' : ''}`;
  }
  return `  ${TIME(cmd.issuedAt)}  ${c('32', 'RESUME ')} ${shortIdentity(cmd.identity).padEnd(24)} ${scope.padEnd(22)} ${cmd.reason}`;
}

export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => '  ' + r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ')).join('\n');
}

export function renderSummary(result: DemoResult): string {
  const byRule = new Map<string, { n: number; ids: Set<string>; suspend: number }>();
  let suspends = 0;
  let resumes = 0;
  for (const item of result.items) {
    if (item.kind === 'detection') {
      const d = item.detection;
      const k = `${d.detector}/${d.rule}`;
      const r = byRule.get(k) ?? { n: 0, ids: new Set(), suspend: 0 };
      r.n++;
      r.ids.add(d.identity);
      if (item.commandId) r.suspend++;
      byRule.set(k, r);
    } else if (item.kind === 'command') {
      if (item.command.type === 'suspend') suspends++;
      else resumes++;
    }
  }
  const rows = [['detector/rule', 'detections', 'identities', 'suspensions']];
  for (const [k, r] of [...byRule.entries()].sort()) rows.push([k, String(r.n), String(r.ids.size), String(r.suspend)]);
  return `${table(rows)}\n\n  breaker commands: ${suspends} suspend, ${resumes} resume`;
}
