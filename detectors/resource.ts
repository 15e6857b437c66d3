import type { Manifest, ResourceRule } from '../src/config/types.js';
import { resourceLevels, type ResourceShape } from './resource-shapes.js';

export { describeResource, detectShape, nextSep, OPAQUE_KIND, SHAPES, type ResourceShape } from './resource-shapes.js';

/** The manifest's first `resources` rule matching the resource, if any. */
function ruleFor(rules: readonly ResourceRule[], resource: string): ResourceRule | undefined {
  for (let i = 0; i < rules.length; i++) if (rules[i]!.match.test(resource)) return rules[i];
  return undefined;
}

/**
 * The learned levels of `resource` for an identity of the manifest's class:
 * its first matching `resources` rule picks the shape (default auto) and may
 * cap the depth. Writes into `out` (scratch), returns how many.
 */
export function learnedLevels(resource: string, m: Manifest | undefined, depth: number, out: string[]): number {
  let shape: ResourceShape = 'auto';
  const rules = m?.resources;
  if (rules !== undefined && rules.length > 0) {
    const r = ruleFor(rules, resource);
    if (r !== undefined) {
      shape = r.shape;
      if (r.depth !== undefined && r.depth < depth) depth = r.depth;
    }
  }
  return resourceLevels(resource, shape, depth, out);
}

/** The learned levels as a new array (findings, tests). */
export function resourcePrefixes(resource: string, depth: number, m?: Manifest): string[] {
  const out: string[] = [];
  out.length = learnedLevels(resource, m, depth, out);
  return out;
}
