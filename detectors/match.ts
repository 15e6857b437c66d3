import type { AllowRule, Glob, Manifest } from '../src/config/types.js';
import { globText } from '../src/config/glob.js';
import { learnedLevels } from './resource.js';
import { OPAQUE_KIND, parsed } from './resource-shapes.js';

// Actions are a small vocabulary and a glob regex costs far more than a map hit,
// so action matches are memoized; the bound keeps hostile action names from growing it.
const MAX_MEMO = 4096;
const anyMemo = new WeakMap<readonly Glob[], Map<string, boolean>>();
const allowMemo = new WeakMap<Manifest, Map<string, AllowRule[]>>();

function remember<V>(memo: Map<string, V>, key: string, value: V): V {
  if (memo.size >= MAX_MEMO) memo.clear();
  memo.set(key, value);
  return value;
}

/** Whether any glob matches `action`. */
export function matchesAction(globs: readonly Glob[], action: string): boolean {
  if (globs.length === 0) return false;
  let memo = anyMemo.get(globs);
  if (!memo) anyMemo.set(globs, (memo = new Map()));
  const hit = memo.get(action);
  if (hit !== undefined) return hit;
  let r = false;
  for (const g of globs) {
    if (g.test(action)) {
      r = true;
      break;
    }
  }
  return remember(memo, action, r);
}

/** Whether an allow rule of the manifest covers the action on the resource. */
export function allowed(m: Manifest, action: string, resource: string): boolean {
  let memo = allowMemo.get(m);
  if (!memo) allowMemo.set(m, (memo = new Map()));
  const rules = memo.get(action) ?? remember(memo, action, m.allow.filter((r) => r.action.test(action)));
  for (const r of rules) if (r.resource.test(resource)) return true;
  return false;
}

/** What one allow rule names literally: its action (a glob without wildcards), and resource levels free of wildcards. */
interface Named {
  action: boolean;
  levels: ReadonlySet<string>;
}
const namedMemo = new WeakMap<AllowRule, Named>();
/** Stands for a wildcard when a resource glob is read as a resource: no real resource contains it. */
const MARK = '\u0000';

function namedBy(m: Manifest, rule: AllowRule): Named {
  let n = namedMemo.get(rule);
  if (n !== undefined) return n;
  const text = globText(rule.resource.source, MARK);
  const levels = new Set<string>();
  if (text !== undefined) {
    const scratch: string[] = [];
    const k = learnedLevels(text, m, 16, scratch);
    const wild = text.includes(MARK);
    for (let i = 0; i < k; i++) {
      const lv = scratch[i]!;
      // A bare token's kind is decided by its first characters: `i-*` names the kind `i-*`, `**` names nothing.
      if (lv.includes(MARK) || (wild && parsed.shape === 'id' && lv === OPAQUE_KIND)) continue;
      levels.add(lv);
    }
  }
  const act = globText(rule.action.source, MARK);
  n = { action: act !== undefined && !act.includes(MARK), levels };
  namedMemo.set(rule, n);
  return n;
}

/**
 * Which parts of an event the manifest declares: the action, if an allow rule
 * covering the event names it without wildcards; a learned level of the
 * resource, if such a rule's resource glob names it literally (`db:prod.**`
 * declares `db` and `db:prod`; `**` declares nothing). Finding path only.
 */
export function declared(m: Manifest, action: string, resource: string): { action: boolean; level(member: string): boolean } {
  const rules: Named[] = [];
  for (const r of m.allow) if (r.action.test(action) && r.resource.test(resource)) rules.push(namedBy(m, r));
  return {
    action: rules.some((n) => n.action),
    level: (member) => rules.some((n) => n.levels.has(member)),
  };
}
