// `warden/control`: what an operator tool needs to issue a signed operator control.
export type { Keyring, KeyringResult } from '../commands/keyring.js';
export { operatorKeyringFromEnv, parseKeyring } from '../commands/keyring.js';
export { createControl, encodeControl, type ControlRequest } from './create.js';
export { canonicalControl, verifyControl } from './sign.js';
export { CONTROL_MARK, type OperatorControl } from './types.js';
