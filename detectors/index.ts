import type { Detector } from '../src/detector.js';
import { chain } from './chain.js';
import { rate } from './rate.js';
import { scope } from './scope.js';

export { chain, rate, scope };
export { resourcePrefixes } from './resource.js';
export { formatDuration } from './format.js';

export const builtinDetectors: readonly Detector[] = [rate, scope, chain];
