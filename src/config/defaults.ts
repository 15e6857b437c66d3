/**
 * Defaults in the shape and units of the files themselves, so the schema
 * validates and converts them exactly like user input.
 */
export const DEFAULT_DETECTORS_FILE = {
  detectors: {
    rate: {
      enabled: true,
      mode: 'enforce',
      severity: 'high',
      scope: 'action',
      limits: true,
      baseline: {
        enabled: true,
        bucket: '5m',
        learningPeriod: '24h',
        alpha: 0.05,
        peakHalfLife: '7d',
        multiplier: 4,
        zScore: 6,
        minEvents: 20,
        minBuckets: 12,
      },
    },
    scope: {
      enabled: true,
      mode: 'enforce',
      severity: 'high',
      scope: 'identity',
      manifest: true,
      unknownClass: 'ignore',
      writeActions: ['*.write', '*.delete', '*.update', '*.create', '*.send', '*.exec', '*.deploy', '*.restart'],
      learned: {
        enabled: true,
        learningPeriod: '24h',
        prefixDepth: 2,
        actionScore: 1,
        prefixScores: [1, 0.6],
        threshold: 0.5,
        maxSeen: 256,
      },
    },
    chain: {
      enabled: true,
      mode: 'enforce',
      severity: 'high',
      scope: 'identity',
      maxDepth: 4,
      maxFanOut: 100,
      fanOutWindow: '1h',
      spawnActions: ['agent.spawn'],
      cycles: true,
    },
  },
  breaker: {
    ttl: '15m', maxTtl: '24h', probation: '10m', probationActions: 20, forgiveAfter: '24h',
    fleetGuard: { enabled: true, maxPercent: 25, alwaysAllow: 2, activeWindow: '1h' },
  },
  overrides: [],
} as const;

export const DEFAULT_MANIFEST = {
  readOnly: false,
  allow: [],
  limits: [],
  delegation: {},
} as const;
