export {
  ALERTS_FILE, loadAlertsConfig, NO_ALERTS, sameReceiver, validateAlertsFile,
  type AlertFormat, type AlertReceiver, type AlertsConfig, type AlertsConfigResult,
} from './config.js';
export {
  alertId, buildPayload, buildResolve, clip, dedupKey, resolveId, SLACK_LIMITS, slackEscape, statusLink, type Alert, type Resolution,
} from './payload.js';
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
export { listDeadLetters, redriveDeadLetters, selectDeadLetters, type DeadLetter, type RedriveOptions, type RedriveResult } from './dead-letters.js';
