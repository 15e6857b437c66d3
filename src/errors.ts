/**
 * Every code Warden raises or writes (thrown errors, dead letters, refused
 * controls and commands), with what it means and whether trying again can
 * help by default. README "Errors" lists the same codes with the same text
 * (test/unit/errors-catalogue.test.ts). One line per code, grouped as in the README.
 */
export const ERRORS = {
  // Command line and configuration
  CLI_USAGE: { retriable: false, description: 'A `warden` command got an unknown flag, a missing or bad value or a wrong argument count; fix the invocation (`warden <command> --help`); exit code 2.' },
  CONFIG_APPLY_FAILED: { retriable: false, description: 'A reloaded config is valid but could not be applied in full (e.g. a new alert receiver could not join its group); the running service goes on, the next reload tries again.' },
  CONFIG_INVALID: { retriable: false, description: 'The config directory has problems, each listed as `file:line path: why`; fix them (`warden validate-config <dir>` checks without starting).' },
  INPUT_NOT_FOUND: { retriable: false, description: 'An input file (a recording, the eval detectors file) does not exist, is not a regular file or cannot be read; check the path.' },
  OVERRIDE_NOT_FOUND: { retriable: false, description: 'No override file by that name; `warden override list` shows them (those in `detectors.yaml` are removed by editing it).' },
  SETTINGS_INVALID: { retriable: false, description: 'An environment variable or option has a bad value (the message names each); fix it as "Environment" describes.' },
  // Start
  START_FAILED: { retriable: false, description: 'Kafka or Redis refused the start (credentials, TLS, Redis older than 7); the message names the variable to check.' },
  START_HTTP: { retriable: false, description: '`warden run` cannot listen on `WARDEN_HTTP_HOST:WARDEN_HTTP_PORT` (port taken, not an address of this host); change them.' },
  START_TIMEOUT: { retriable: false, description: 'Kafka or Redis did not answer within `WARDEN_START_TIMEOUT_S`; check the address it names, or raise the timeout.' },
  // Events (a dead letter in the service, an `invalid` line in replay)
  EVENT_DECODE: { retriable: false, description: 'The record is neither msgpack nor JSON (or a recording is corrupt); fix the producer.' },
  EVENT_EMPTY: { retriable: false, description: 'The record is empty or only whitespace; fix the producer.' },
  EVENT_FIELD_INVALID: { retriable: false, description: 'A field has a value outside its format (empty, `ts` not ms since the epoch, `outcome` or `v` unknown); the message names the field.' },
  EVENT_FIELD_MISSING: { retriable: false, description: 'A required field is missing; the message names it.' },
  EVENT_FIELD_TOO_LONG: { retriable: false, description: 'A field is longer than its limit (bytes, `chain` entries, `attrs` keys); shorten it at the producer.' },
  EVENT_FIELD_TYPE: { retriable: false, description: 'A field has the wrong type (e.g. a number for a string); the message names the field and the type expected.' },
  EVENT_INVALID_UTF8: { retriable: false, description: 'A string (the field is named, or "a map key") is not valid UTF-8; send UTF-8.' },
  EVENT_NOT_MAP: { retriable: false, description: 'The decoded event is not a map (an array, a string, ...); send one object per record.' },
  EVENT_TOO_LARGE: { retriable: false, description: 'The record is larger than 64 KiB; send less (move bulk out of `attrs`).' },
  EVENT_TS_FUTURE: { retriable: false, description: '`ts` is more than `WARDEN_EVENT_MAX_AHEAD` ahead of the clock, or after the year 9999 (µs instead of ms); fix the producer\'s clock or unit.' },
  EVENT_TS_TOO_OLD: { retriable: false, description: '`ts` is more than `WARDEN_EVENT_MAX_AGE` behind the clock, or before 2000-01-01 (seconds instead of ms); fix the producer\'s clock or unit.' },
  EVENT_UNKNOWN_FIELD: { retriable: false, description: 'The event has a top-level field the format does not define; put extra data in `attrs`.' },
  // Operator controls (a dead letter; the control changes nothing)
  CONTROL_FORGED: { retriable: false, description: 'The control\'s signature does not match its key; sign it with `warden breaker` and the operator keys.' },
  CONTROL_MALFORMED: { retriable: false, description: 'The control is not well formed (the field is named); send one `warden breaker` writes.' },
  CONTROL_TS_FUTURE: { retriable: false, description: 'The control\'s `ts` is more than `WARDEN_EVENT_MAX_AHEAD` ahead of the clock; check the operator\'s clock.' },
  CONTROL_TS_TOO_OLD: { retriable: false, description: 'The control\'s `ts` is more than `WARDEN_EVENT_MAX_AGE` behind the clock, or before 2000-01-01; send a fresh control.' },
  CONTROL_UNKNOWN_KEY: { retriable: false, description: 'The control\'s key id is not in the operator keyring (or the active key id is missing when signing); add the key to `WARDEN_OPERATOR_KEYS`.' },
  CONTROL_UNVERIFIABLE: { retriable: false, description: 'Warden has no operator keys (`WARDEN_OPERATOR_KEYS` or `WARDEN_COMMAND_KEYS`), so no control can be verified; set them.' },
  // Breaker commands (refused by the enforcer, counted in `stats()`)
  COMMAND_EXPIRED: { retriable: false, description: 'The suspend has already ended; nothing to do, the identity is not suspended.' },
  COMMAND_FORGED: { retriable: false, description: 'The command\'s signature does not match its key (forged or tampered); find who writes to the commands topic.' },
  COMMAND_KEY_MISMATCH: { retriable: false, description: 'The record key is not the identity the command signs (re-keyed); find who writes to the commands topic.' },
  COMMAND_MALFORMED: { retriable: false, description: 'The command is not in the "Command format" (or a tombstone, or Warden was asked to sign one); the message says what is wrong.' },
  COMMAND_UNKNOWN_KEY: { retriable: false, description: 'The command\'s key id is not in the gateway\'s keyring (or the active key id is missing when signing); add the key to the keyring.' },
  COMMAND_UNSUPPORTED_VERSION: { retriable: false, description: 'The command is not v2 (v1 signs no seq, so an old one could be replayed); upgrade the writer.' },
  // Gateway enforcer
  ENFORCER_BOOTSTRAP_TIMEOUT: { retriable: true, description: '`start()` did not read the commands topic to its end within `bootstrapTimeoutMs`; check the brokers, or raise it.' },
  ENFORCER_CONSUMER_CRASHED: { retriable: true, description: 'The commands consumer stopped during `start()`; the message has kafkajs\' reason; start again.' },
  ENFORCER_START_FAILED: { retriable: true, description: 'The enforcer cannot read the commands topic\'s offsets or follow it; check the brokers and ACLs, then start again.' },
  ENFORCER_STATE: { retriable: false, description: '`start()` was called twice, or after `stop()`; create a new enforcer.' },
  ENFORCER_STOPPED: { retriable: false, description: '`stop()` was called before `start()` finished; nothing to do.' },
  ENFORCER_TOPIC_MISSING: { retriable: true, description: 'The commands topic does not exist; create it (compacted) or fix `topic`.' },
  // Producer SDK (warden/producer)
  PRODUCER_BUFFER_FULL: { retriable: true, description: '`send()` found the buffer at `maxBufferedEvents` or `maxBufferedBytes` with `onFull: \'reject\'`: Kafka takes events slower than they come; retry later, or let `send()` wait (`onFull: \'wait\'`).' },
  PRODUCER_CLOSED: { retriable: false, description: '`send()` was called after `close()`; create a new producer.' },
  PRODUCER_OPTIONS_INVALID: { retriable: false, description: '`createProducer` got a bad option (the message names it); fix it as "Producing events" describes.' },
  // State (Redis)
  STATE_INCONSISTENT: { retriable: false, description: 'Stored state is not what Warden wrote (a field of the wrong size, a missing baseline, an offset applied without its view); find the other writer under `WARDEN_REDIS_PREFIX`.' },
  STATE_KEY_COLLISION: { retriable: false, description: 'A Redis key of one identity holds another identity (a hash collision or tampering); refused before any write, find the other writer.' },
  STATE_REDIS: { retriable: false, description: 'A Redis call failed (unreachable, a refused command, Redis older than 7, Lua scripts missing); the service retries while Redis may come back.' },
  // Kafka
  KAFKA_PUBLISH: { retriable: false, description: 'A record could not be published (broker away, record refused); the service waits it out, a CLI command names the topic and brokers.' },
  KAFKA_READ: { retriable: false, description: '`warden breaker` cannot read the decisions topic to follow its control; check `KAFKA_BROKERS` and the topic.' },
  // Service and engine
  ENGINE_DETECTOR_UNCONFIGURED: { retriable: false, description: 'An embedded `Engine` got detectors its config has no section for; load the config with the same detectors.' },
  SERVICE_STOPPING: { retriable: false, description: 'A batch stopped waiting because the consumer stopped or lost the partition; the next owner processes it again.' },
  // On-call alerts
  ALERT_ATTEMPT_FAILED: { retriable: true, description: 'One delivery to a receiver failed (timeout, connection error, 5xx, 429); retried with backoff, honouring `Retry-After`.' },
  ALERT_DEAD_LETTER_FAILED: { retriable: true, description: 'An undeliverable alert could not be stored in Redis; the alert is not committed and is tried again.' },
  ALERT_DEAD_LETTER_MALFORMED: { retriable: false, description: 'A stored dead letter holds no detection or resolve (written by something else than Warden); `warden alerts dead redrive` keeps it, `list --json` shows it: delete it by hand.' },
  ALERT_DEAD_LETTER_NOT_FOUND: { retriable: false, description: '`warden alerts dead redrive --id` names no dead letter (the id or its first 8+ characters); `warden alerts dead list` shows them. Nothing was sent.' },
  ALERT_REJECTED: { retriable: false, description: 'A receiver answered a 4xx other than 429; not retried, the alert is dead-lettered: fix the receiver\'s URL or auth.' },
  ALERT_RECEIVER_UNKNOWN: { retriable: false, description: 'A dead letter\'s receiver is no longer in `alerts.yaml` (or no longer takes resolves, not being `pagerduty`); the letter is kept: add the receiver back to re-send it.' },
  ALERT_REDRIVE_FAILED: { retriable: false, description: '`warden alerts dead redrive` could not re-send some dead letters (each is listed with its own code); they are kept, run it again once the receiver is fixed; exit code 1.' },
  ALERT_UNDELIVERABLE: { retriable: false, description: 'An alert was given up (after `maxAttempts`, or rejected) and kept in `<prefix>:alerts:dead:<name>`; raise `maxAttempts` or fix the receiver.' },
  ALERTS_SECRET_MISSING: { retriable: false, description: 'A dispatcher got a config loaded without the environment, so a receiver\'s secret or routing key is missing; load it with `validateConfigDir(dir, { env: process.env })`.' },
  ALERTS_STOPPED: { retriable: false, description: 'An alert dispatcher was started after it stopped; create a new one.' },
  ALERTS_STOPPING: { retriable: false, description: 'The dispatcher is stopping; the alert in flight stays uncommitted and is delivered after the restart.' },
  // Evaluation and simulation
  EVAL_INPUT_INVALID: { retriable: false, description: 'An eval input (decisions, incidents, or the simulated events) is invalid; the message names the file and where.' },
  SIM_OPTIONS_INVALID: { retriable: false, description: 'The simulator got a bad option (the message names it); fix the call.' },
  // CloudTrail input (an `invalid` line in replay, a line on stderr from `warden cloudtrail`)
  CLOUDTRAIL_DECODE: { retriable: false, description: 'CloudTrail input is not JSON where a value should start (skipped to the next line), a value is not JSON or not UTF-8, the input ends inside one, or its gzip is corrupt; check it is a CloudTrail log file or event.' },
  CLOUDTRAIL_FIELD_INVALID: { retriable: false, description: 'A CloudTrail record\'s `eventID`, `eventTime`, `eventSource` or `eventName` is not a string, or `eventTime` is not an ISO 8601 time; the message names the field.' },
  CLOUDTRAIL_FIELD_MISSING: { retriable: false, description: 'A CloudTrail record has no `eventID`, `eventTime`, `eventSource` or `eventName`; the message names the field.' },
  CLOUDTRAIL_NOT_A_RECORD: { retriable: false, description: 'A JSON value is no CloudTrail log file, record or EventBridge CloudTrail event (a digest file, another EventBridge event, an Insights event); leave it out of the input.' },
  CLOUDTRAIL_NO_PRINCIPAL: { retriable: false, description: 'A CloudTrail record\'s `userIdentity` is missing or names no one (an `AWSService` without `invokedBy`; no `arn`, `userName` or `principalId`); there is no identity to watch.' },
  // OpenTelemetry input (`warden otlp`: an HTTP status, or a span counted in the response's `partialSuccess`)
  OTLP_BODY_TOO_LARGE: { retriable: false, description: 'An OTLP export body (or what its gzip inflates to) is larger than `warden otlp --max-body-bytes`; HTTP 413. Export smaller batches (the SDK\'s `maxExportBatchSize`) or raise the limit.' },
  OTLP_DECODE: { retriable: false, description: 'An OTLP export body is not JSON (or not UTF-8), not a protobuf `ExportTraceServiceRequest`, not shaped like one, or its gzip is corrupt; HTTP 400. Check the exporter\'s protocol matches its `Content-Type`.' },
  OTLP_LISTEN: { retriable: false, description: '`warden otlp` cannot listen on `--host`:`--port` (port taken, not an address of this host); change them.' },
  OTLP_NO_IDENTITY: { retriable: false, description: 'A GenAI span has no `gen_ai.agent.id`, no agent span above it in the same export request, and no `spiffe.id` resource attribute: there is no identity to watch. Set `gen_ai.agent.id` on agent spans (or the workload\'s SPIFFE ID on the resource).' },
  OTLP_NOT_FOUND: { retriable: false, description: 'A request to `warden otlp` on another path than `POST /v1/traces` (or `GET /metrics`, `/healthz`); HTTP 404 or 405. Point the exporter at `http://HOST:PORT/v1/traces`.' },
  OTLP_SPAN_INVALID: { retriable: false, description: 'A span\'s `traceId` or `spanId` is missing, all zero or not 16 (8) bytes (hex in JSON), or its `startTimeUnixNano` is missing or not an integer; the message names the field. Fix the exporter.' },
  OTLP_UNSUPPORTED_ENCODING: { retriable: false, description: 'An OTLP export has a `Content-Encoding` other than `gzip` or none; HTTP 415. Use gzip or no compression.' },
  OTLP_UNSUPPORTED_MEDIA_TYPE: { retriable: false, description: 'An OTLP export\'s `Content-Type` is neither `application/json` nor `application/x-protobuf`; HTTP 415. Use the `http/json` or `http/protobuf` exporter.' },
} as const satisfies Record<string, { retriable: boolean; description: string }>;

export type ErrorCode = keyof typeof ERRORS;

const known: Readonly<Record<string, { retriable: boolean } | undefined>> = ERRORS;

/**
 * Every error Warden raises has a stable `code` from ERRORS and says why in
 * its message. `retriable` tells the retry factory whether trying again can
 * help; it defaults to the code's.
 */
export class WardenError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;

  constructor(code: ErrorCode, message: string, options: { retriable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'WardenError';
    this.code = code;
    this.retriable = options.retriable ?? known[code]?.retriable ?? false;
  }
}

export function isRetriable(err: unknown): boolean {
  return err instanceof WardenError ? err.retriable : false;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
