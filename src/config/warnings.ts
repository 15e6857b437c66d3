import type { ConfigIssue } from './errors.js';
import { globsOverlap, literalLength } from './glob.js';
import { bindingsOf } from './resolve.js';
import { formatPath, type Path } from './schema.js';
import type { Manifest, Override, WardenConfig } from './types.js';

/** The line of a path in a loaded file, when the loader still has it. */
export type LineOf = (file: string, at: Path) => number | undefined;

const sourceFile = (o: Override): { file: string; at: Path } => {
  // `<dir>/detectors.yaml overrides[<i>]`, or the path of its own file.
  const m = /^(.*) overrides\[(\d+)\]$/.exec(o.source);
  return m ? { file: m[1]!, at: ['overrides', Number(m[2])] } : { file: o.source, at: [] };
};

/**
 * What a valid config may still get wrong and only a person can tell: globs
 * that match nothing the config knows of, and identities two manifests bind.
 * Warnings, not errors: a class may be on its way in, an overlap may be meant.
 */
export function configWarnings(config: WardenConfig, lineOf: LineOf = () => undefined): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  const add = (file: string, at: Path, message: string): void => {
    const line = lineOf(file, at);
    const path = formatPath(at);
    out.push(line === undefined ? { file, path, message } : { file, path, line, message });
  };
  const manifests = [...config.manifests.values()];
  const classes = manifests.map((m) => m.agentClass);

  for (const o of config.overrides) {
    const g = o.match.agentClass;
    if (g === undefined || classes.some((c) => g.test(c))) continue;
    const { file, at } = sourceFile(o);
    add(file, [...at, 'match', 'agentClass'],
      `"${g.source}" matches no manifest's agentClass (${classes.length === 0 ? 'there are none' : classes.join(', ')}): it applies only to events that name such a class and whose identity no manifest binds`);
  }

  const bindings = bindingsOf(config.manifests);
  const at = (m: Manifest, glob: string): number => m.identities.findIndex((g) => g.source === glob);
  for (const b of bindings) {
    if (b.glob.source === '**') {
      add(b.manifest.file, ['identities', at(b.manifest, '**')],
        `"**" binds every identity to ${b.manifest.agentClass}: one that no more specific glob binds is ${b.manifest.agentClass} whatever its agentClass says`);
    }
  }
  for (let i = 0; i < bindings.length; i++) {
    for (let j = i + 1; j < bindings.length; j++) {
      const win = bindings[i]!;
      const lose = bindings[j]!;
      if (win.manifest === lose.manifest || !globsOverlap(win.glob.source, lose.glob.source)) continue;
      const why = literalLength(win.glob.source) > literalLength(lose.glob.source)
        ? 'it names more characters literally'
        : 'as specific, and its file sorts first';
      const k = at(lose.manifest, lose.glob.source);
      add(lose.manifest.file, ['identities', k],
        `"${lose.glob.source}" overlaps "${win.glob.source}" of ${win.manifest.agentClass} (${win.manifest.file}): an identity both match is ${win.manifest.agentClass} (${why})`);
    }
  }
  return out;
}
