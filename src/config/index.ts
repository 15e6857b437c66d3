export type * from './types.js';
export { parseDuration, type DurationResult } from './duration.js';
export { compileGlob, escapeGlob, globText, matchAny, type GlobResult } from './glob.js';
export { ConfigError, formatIssue, type ConfigIssue } from './errors.js';
export { loadConfig, validateConfigDir, type ValidateResult } from './load.js';
export { createResolver, mergeDetectors, type ResolveInput, type Resolver } from './resolve.js';
export { DEFAULT_DETECTORS_FILE, DEFAULT_MANIFEST } from './defaults.js';
