export type { Keyring, KeyringResult } from '../commands/keyring.js';
export { parseKeyring, keyringFromEnv } from '../commands/keyring.js';
export type { SignedCommand, VerifyCode, VerifyResult } from '../commands/sign.js';
export { canonicalCommand, signCommand, verifyCommand } from '../commands/sign.js';
export type { Decision, Enforcer, EnforcerLogger, EnforcerOptions, EnforcerStats, RejectCode, RejectInfo } from './enforcer.js';
export { createEnforcer } from './enforcer.js';
