import type { AnyDetector } from '../src/detector.js';
import { chain } from './chain.js';
import { credential } from './credential.js';
import { enumeration } from './enumeration.js';
import { loop } from './loop.js';
import { rate } from './rate.js';
import { scope } from './scope.js';
import { silence } from './silence.js';

export { chain, rate, scope };
export { resourcePrefixes } from './resource.js';
export { formatDuration } from './format.js';

/**
 * The one list of built-in detectors. A detector is one file exporting
 * `defineDetector({...})` and one line here: its config type, schema,
 * defaults and alert filter all derive from this list.
 */
export const registry = [rate, scope, chain, credential, enumeration, silence, loop] as const;

export const builtinDetectors: readonly AnyDetector[] = registry;
