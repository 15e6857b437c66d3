import { CLASSES, type ClassSpec } from './classes.js';

const q = (s: string): string => JSON.stringify(s);

/** The manifest the catalogue fleet declares for one class: its streams, its dormant and rollout tools, limits, delegation. */
export function manifestYaml(c: ClassSpec): string {
  const lines = [
    '# Written by `warden simulate --manifests DIR` from the catalogue fleet\'s declared scopes.',
    `agentClass: ${c.name}`,
    `description: ${q(c.description)}`,
    `readOnly: ${c.readOnly}`,
    'allow:',
    ...c.allow.map((a) => `  - { action: ${a.action}, resource: ${q(a.glob)} }`),
  ];
  for (const t of [c.rollout, c.dormant]) if (t) lines.push(`  - { action: ${t.action}, resource: ${q(t.glob)} }`);
  if (c.limits?.length) {
    lines.push('limits:');
    for (const l of c.limits) lines.push(`  - { action: ${l.action}, max: ${l.max}, window: ${l.window} }`);
  }
  const d = c.delegation;
  if (d) {
    lines.push('delegation:');
    if (d.maxDepth !== undefined) lines.push(`  maxDepth: ${d.maxDepth}`);
    if (d.maxChildren !== undefined) lines.push(`  maxChildren: ${d.maxChildren}`);
    if (d.window !== undefined) lines.push(`  window: ${d.window}`);
  }
  return lines.join('\n') + '\n';
}

/** File name → YAML for every class of the catalogue fleet (`agents/<class>.yaml`). */
export function catalogueManifests(): Map<string, string> {
  return new Map(CLASSES.map((c) => [`${c.name}.yaml`, manifestYaml(c)]));
}
