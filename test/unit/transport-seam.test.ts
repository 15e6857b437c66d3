import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = process.cwd();

function files(dir: string): string[] {
  return readdirSync(join(root, dir)).flatMap((name) => {
    const path = join(dir, name);
    return statSync(join(root, path)).isDirectory() ? files(path) : /\.(ts|js|mjs|cjs)$/.test(name) ? [path] : [];
  });
}

/** Every way a module can name a package: import/export ... from, a bare import, import(), require(), and `import x = require()`. */
function packagesNamed(src: string): string[] {
  const out: string[] = [];
  for (const re of [
    /^\s*(?:import|export)\s[^;'"]*?\bfrom\s*['"]([^'"]+)['"]/gm,
    /^\s*import\s*['"]([^'"]+)['"]/gm,
    /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
    /\brequire\(\s*['"]([^'"]+)['"]\s*\)/g,
  ]) for (const m of src.matchAll(re)) out.push(m[1]!);
  return out;
}

const CLIENTS = /^(kafkajs|@confluentinc\/kafka-javascript|@platformatic\/kafka|node-rdkafka)(\/|$)/;

describe('the transport seam', () => {
  it('sees every form of import (the check below can fail)', () => {
    const src = [
      "import { Kafka } from 'kafkajs';",
      "import type { KafkaMessage } from 'kafkajs';",
      "export type { Admin } from \"kafkajs\";",
      "const k = await import('kafkajs');",
      "const { KafkaJS } = require('@confluentinc/kafka-javascript');",
      "import {\n  Consumer,\n  Producer,\n} from '@platformatic/kafka';",
    ].join('\n');
    expect(packagesNamed(src).filter((p) => CLIENTS.test(p))).toHaveLength(6);
  });

  it('is the only place a Kafka client library is imported, types included (src/ and bin/)', () => {
    const offenders = [...files('src'), ...files('bin')]
      .filter((f) => !f.startsWith('src/transport/'))
      .filter((f) => packagesNamed(readFileSync(join(root, f), 'utf8')).some((p) => CLIENTS.test(p)));
    expect(offenders).toEqual([]);
  });

  it('holds the kafkajs implementation in src/transport', () => {
    const inside = files('src/transport').filter((f) => packagesNamed(readFileSync(join(root, f), 'utf8')).includes('kafkajs'));
    expect(inside).toContain('src/transport/kafkajs.ts');
  });
});
