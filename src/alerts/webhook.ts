// `warden/webhook`: what a webhook receiver needs, without the dispatcher's Kafka and Redis imports.
export { SIGNATURE_HEADER, signWebhook, STANDARD_HEADERS, standardWebhookKey, TIMESTAMP_HEADER, verifyWebhook, type HeaderSource, type VerifyResult } from './sign.js';
