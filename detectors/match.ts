import type { AllowRule, Glob, Manifest } from '../src/config/types.js';

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
