export type { Keyring, KeyringResult } from '../commands/keyring.js';
export { parseKeyring, keyringFromEnv } from '../commands/keyring.js';
export type { SignedCommand, VerifyCode, VerifyResult } from '../commands/sign.js';
export { canonicalCommand, signCommand, verifyCommand } from '../commands/sign.js';
export type { Decision, Enforcer, EnforcerLogger, EnforcerOptions, EnforcerSettings, EnforcerStats, RejectCode, RejectInfo } from './enforcer.js';
export type { FeedHandlers, FeedRecord, TopicFeed } from '../transport/topic-feed.js';
export type { PartitionOffsets } from '../transport/types.js';
export { createEnforcer } from './enforcer.js';
