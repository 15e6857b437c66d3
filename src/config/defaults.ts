import { registry } from '../../detectors/index.js';

/**
 * Defaults in the shape and units of the files themselves, so the schema
 * validates and converts them exactly like user input.
 */
export const DEFAULT_DETECTORS_FILE = {
  detectors: Object.fromEntries(registry.map((d) => [d.name, d.defaults])),
  breaker: {
    ttl: '15m', maxTtl: '24h', probation: '10m', probationActions: 20, forgiveAfter: '24h',
    fleetGuard: { enabled: true, maxPercent: 25, alwaysAllow: 2, activeWindow: '1h' },
  },
  suppression: { window: '10m', maxGroups: 32 },
  overrides: [],
};

export const DEFAULT_MANIFEST = {
  identities: [],
  readOnly: false,
  allow: [],
  limits: [],
  resources: [],
  delegation: {},
} as const;
