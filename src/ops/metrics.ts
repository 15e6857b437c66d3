import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export { Counter, Gauge, Histogram };

/**
 * A prom-client registry of its own per service (never the global one), so
 * several services in one process (tests, the benchmark) keep apart.
 */
export class MetricsRegistry extends Registry {
  /** Prometheus text exposition (format 0.0.4). */
  render(): Promise<string> {
    return this.metrics();
  }
}

/** Warden's version from its package.json, found from this module in src/ or dist/src/. */
export function wardenVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++, dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'warden' && pkg.version) return pkg.version;
    } catch {
      // Not here: one level up.
    }
  }
  return 'unknown';
}

/** A registry with the process and Node runtime metrics under their standard names, and `warden_build_info`. */
export function createRegistry(): MetricsRegistry {
  const registry = new MetricsRegistry();
  collectDefaultMetrics({ register: registry });
  new Gauge({
    name: 'warden_build_info',
    help: 'Always 1; the labels say which Warden and which Node.js run.',
    labelNames: ['version', 'node'] as const,
    registers: [registry],
  }).set({ version: wardenVersion(), node: process.version }, 1);
  return registry;
}
