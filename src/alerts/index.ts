export {
  ALERTS_FILE, loadAlertsConfig, validateAlertsFile,
  type AlertFormat, type AlertReceiver, type AlertsConfig, type AlertsConfigResult,
} from './config.js';
export { alertId, buildPayload, type Alert } from './payload.js';
export { signWebhook, verifyWebhook, SIGNATURE_HEADER, TIMESTAMP_HEADER, type HeaderSource, type VerifyResult } from './sign.js';
export {
  AttemptError, backoffDelay, MAX_RETRY_AFTER_MS, parseRetryAfter, retry, retryDelay, RetryError,
  type BackoffOptions, type RetryOptions,
} from '../retry.js';
export { deliverOnce, type DeliveryOutcome, type DeliveryRequest, type FetchImpl } from './deliver.js';
export {
  createDispatcher, DEAD_LETTER_MAX, deadLetterCountKey, deadLetterKey, readDeadLetters,
  type Dispatcher, type DispatcherOptions, type ReceiverStats,
} from './dispatcher.js';
