export type { AgentEvent, Encoding, Outcome } from './types.js';
export { EVENT_LIMITS } from './types.js';
export type { EventError, EventResult } from './validate.js';
export { validateEvent } from './validate.js';
export type { DecodeResult } from './codec.js';
export { decodeEvent, encodeEvent } from './codec.js';
export type { StreamRecord } from './read-stream.js';
export { openInput, readEventStream } from './read-stream.js';
