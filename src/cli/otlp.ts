import { ConfigError, formatIssue } from '../config/errors.js';
import { validateConfigDir } from '../config/load.js';
import { createResolver } from '../config/resolve.js';
import { errorMessage, WardenError } from '../errors.js';
import { createLogger } from '../log.js';
import { DEFAULT_MAX_BODY_BYTES, OtlpReceiver, TRACES_PATH } from '../otlp/receiver.js';
import { DEFAULT_TOPICS } from '../pipeline/outbox.js';
import { createProducer } from '../producer/index.js';
import { timeBoundsSettings } from '../service/settings.js';
import { kafkaSettingsFromEnv } from '../transport/kafka-env.js';
import { parse } from './args.js';

const USAGE = `usage: warden otlp [--port N] [--host ADDR] [--config DIR] [--max-body-bytes N] [--encoding msgpack|json]

An OpenTelemetry OTLP/HTTP trace receiver (README "OpenTelemetry"): POST
/v1/traces takes application/json or application/x-protobuf, gzip or not,
maps each GenAI agent or tool span to a Warden event and publishes it to the
actions topic (WARDEN_TOPIC_ACTIONS, default ${DEFAULT_TOPICS.actions}) at
KAFKA_BROKERS, keyed by identity, through warden/producer; the response comes
once Kafka acknowledged them. Spans that are no agent action or cannot be
mapped are counted and reported in the response's partialSuccess, the log and
warden_otlp_spans_total on GET /metrics.

  --port N             default 4318 (OTLP/HTTP's); 0 picks a free one
  --host ADDR          default 127.0.0.1; 0.0.0.0 for every interface
  --config DIR         the config warden run uses: an identity a manifest's
                       identities bind is sent without gen_ai.agent.name as
                       its agentClass (its class is the manifest's)
  --max-body-bytes N   largest body, before and after gzip (default ${DEFAULT_MAX_BODY_BYTES})
  --encoding E         msgpack (default) or json

SIGTERM/SIGINT stop taking requests, deliver what is buffered and exit 0.`;

const integer = (flag: string, v: string, min: number, max: number): number => {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < min || n > max) throw new WardenError('CLI_USAGE', `--${flag} must be an integer from ${min} to ${max}, got "${v}"\n\n${USAGE}`);
  return n;
};

export async function otlpCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {
    port: { type: 'string', default: '4318' },
    host: { type: 'string', default: '127.0.0.1' },
    config: { type: 'string', short: 'c' },
    'max-body-bytes': { type: 'string', default: String(DEFAULT_MAX_BODY_BYTES) },
    encoding: { type: 'string', default: 'msgpack' },
    help: { type: 'boolean', short: 'h' },
  }, USAGE);
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  if (positionals.length) throw new WardenError('CLI_USAGE', `unexpected argument "${positionals[0]}"\n\n${USAGE}`);
  const port = integer('port', values.port, 0, 65535);
  const maxBodyBytes = integer('max-body-bytes', values['max-body-bytes'], 1024, 1024 * 1024 * 1024);
  const encoding = values.encoding;
  if (encoding !== 'msgpack' && encoding !== 'json') throw new WardenError('CLI_USAGE', `--encoding must be msgpack or json, got "${encoding}"\n\n${USAGE}`);
  const log = createLogger().child({ module: 'otlp' });

  let isBound: ((identity: string) => boolean) | undefined;
  if (values.config !== undefined) {
    const checked = await validateConfigDir(values.config, { env: process.env });
    if (!checked.ok) throw new ConfigError(checked.issues);
    for (const w of checked.warnings) log.warn({ file: w.file, line: w.line, path: w.path }, `config warning: ${formatIssue(w)}`);
    const resolve = createResolver(checked.config);
    isBound = (identity) => resolve({ identity }).binding !== undefined;
  }

  const topic = process.env.WARDEN_TOPIC_ACTIONS || DEFAULT_TOPICS.actions;
  const kafka = kafkaSettingsFromEnv(process.env, 'warden-otlp');
  // The producer refuses what the service would dead-letter, by the same bounds (README "Event time bounds").
  const producer = createProducer({ ...kafka, topic, encoding, timeBounds: timeBoundsSettings(), logger: createLogger('error') });
  // A wrong address or a missing topic fails here, and the client is closed so the process can end.
  await producer.connect().catch(async (err: unknown) => {
    await producer.close();
    throw err;
  });
  const receiver = new OtlpReceiver({ sink: producer, logger: log, maxBodyBytes, isBound });
  let server: Awaited<ReturnType<OtlpReceiver['listen']>>;
  try {
    server = await receiver.listen(port, values.host);
  } catch (err) {
    await producer.close();
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'EADDRINUSE' ? `port ${port} is already in use (give --port another)`
      : code === 'EACCES' ? `not allowed to listen on port ${port} (give --port 1024 or above)`
      : code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' ? `"${values.host}" is not an address of this host (check --host)`
      : errorMessage(err);
    throw new WardenError('OTLP_LISTEN', `cannot listen on ${values.host}:${port}: ${why}`, { cause: err });
  }
  log.info({ port: server.port, host: values.host, topic }, `otlp: listening on http://${values.host}:${server.port}${TRACES_PATH}, publishing to ${topic}`);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  log.info({ signal }, 'otlp: stopping');
  await server.close();
  await producer.close();
  log.info('otlp: stopped');
  return 0;
}
