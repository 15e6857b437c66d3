// The package's public API: the event format for producers, the enforcer and
// signature checks for gateways and receivers, and the pipeline for embedding.
export * from './event/index.js';
export * from './enforcer/index.js';
export { verifyWebhook, signWebhook } from './alerts/sign.js';
export type { BreakerCommand, ActiveSuspension } from './breaker/types.js';
export type { Detection, Detector, Finding } from './detector.js';
export { loadConfig, validateConfigDir } from './config/load.js';
export type { WardenConfig } from './config/types.js';
export { Engine } from './pipeline/engine.js';
export { replay } from './pipeline/replay.js';
export { MemoryWindowStore } from './state/memory-store.js';
export type { WindowStore } from './state/types.js';
export { ERRORS, WardenError, type ErrorCode } from './errors.js';
export { mapRecord as mapCloudTrailRecord, unpack as unpackCloudTrail } from './cloudtrail/map.js';
export { readCloudTrail } from './cloudtrail/read.js';
export { mapSpans as mapOtlpSpans } from './otlp/map.js';
export { decodeBody as decodeOtlpTraces, OtlpReceiver } from './otlp/receiver.js';
