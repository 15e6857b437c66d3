import { ConfigError, formatIssue } from '../config/errors.js';
import { validateConfigDir } from '../config/load.js';
import type { Logger } from 'pino';
import { errorMessage, WardenError } from '../errors.js';
import { createLogger } from '../log.js';
import { startOpsServer } from '../ops/http.js';
import { watchConfig } from '../service/reload.js';
import { settingsFromEnv } from '../service/settings.js';
import type { WardenService } from '../service/service.js';
import { startService, type Running } from '../service/start.js';
import { StartGate } from '../service/start-gate.js';
import { statusRuntime } from '../status/runtime.js';
import { parse } from './args.js';

const USAGE = `usage: warden run [--config DIR]

Runs the service: consumes agent action events from Kafka, keeps per-identity
windows in Redis, publishes breaker commands and decisions. Connection settings
come from the environment (see README "Environment").

Start: the config is checked, then /healthz, /readyz and /metrics are served on
WARDEN_HTTP_HOST:WARDEN_HTTP_PORT before Kafka or Redis is touched (/readyz is
503 "starting: <what it waits on>" until the service consumes). A port that is
taken, or Kafka or Redis not answering within WARDEN_START_TIMEOUT_S (30 s)
for a start step, logs one "warden exiting" line naming the variable to check
and exits 1.

With WARDEN_STATUS_TOKENS set, the same port serves the status page at
/status: breakers, decisions and rate charts, and suspend/resume signed with
each signed-in operator's own key (README "Status page").

Running: SIGTERM/SIGINT finish the batch in flight, commit and leave the group;
SIGHUP or a change in DIR reloads the config (a bad one is refused and the
running one stays). Outages after start are waited out. A failure no retry can
mend (a consumer kafkajs will not restart) logs one "warden exiting" line and
exits 1.`;

export async function runCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    config: { type: 'string', short: 'c', default: 'config' },
    help: { type: 'boolean', short: 'h' },
  }, USAGE);
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const log = createLogger();
  // SIGHUP's default ends the process: while starting it is held and acted on once the reload watcher is up.
  let hupWhileStarting = false;
  const earlyHup = (): void => {
    hupWhileStarting = true;
    log.info({ signal: 'SIGHUP' }, 'SIGHUP while starting: the config is read again once started');
  };
  process.on('SIGHUP', earlyHup);
  const dir = values.config;
  const settings = settingsFromEnv();
  const checked = await validateConfigDir(dir, { env: process.env });
  if (!checked.ok) throw new ConfigError(checked.issues);
  let config = checked.config;
  // What validate-config warns about, once at start: a class glob no manifest has hides nothing quietly.
  for (const w of checked.warnings) log.warn({ file: w.file, line: w.line, path: w.path }, `config warning: ${formatIssue(w)}`);
  const gate = new StartGate(settings.startTimeoutMs, (phase) => log.info({ phase }, 'starting'));
  let service: WardenService | null = null;
  let running: Running | null = null;
  const status = statusRuntime(settings, () => config, log);
  // Up before Kafka and Redis are touched, so a start that waits is seen waiting, and says on what.
  const ops = await startOpsServer({
    notReady: async () => (running ? running.service.notReady() : `starting: ${gate.phase}`),
    notLive: () => running?.service.notLive() ?? null,
    detail: async () => (running ? running.service.detail() : []),
    metrics: () => service?.metrics.registry.render() ?? '',
  }, settings.http.port, settings.http.host, status.app).catch((err: unknown) => exitStart(log, listenError(err, settings.http)));
  const http = `${settings.http.host}:${ops.port}`;
  log.info({ configVersion: config.version, dir, http, startTimeoutS: settings.startTimeoutMs / 1000 }, 'warden starting');
  const live = await startService({ config, log, settings, gate, onService: (s) => (service = s) }).catch((err: unknown) => exitStart(log, err));
  running = live;
  log.info({ configVersion: config.version, dir, http, statusPage: settings.status ? `${http}/status` : 'off' }, 'warden running');
  status.start();
  const unwatch = watchConfig(dir, async (next) => {
    config = next;
    await live.setConfig(next);
  }, log, (ok) => live.service.metrics.reloads.inc({ result: ok ? 'applied' : 'refused' }), config.version);
  process.off('SIGHUP', earlyHup);
  if (hupWhileStarting) process.emit('SIGHUP', 'SIGHUP');

  const code = await new Promise<number>((resolve) => {
    const stop = (why: string, exitCode: number): void => {
      unwatch();
      // A stop that hangs (a broker or Redis gone) must not keep a failed process alive.
      if (exitCode !== 0) setTimeout(() => resolve(exitCode), 15_000).unref();
      Promise.all([live.stop(), ops.close(), status.close()]).then(() => resolve(exitCode), (err) => {
        log.error({ err: errorMessage(err), why }, 'stop failed');
        resolve(exitCode);
      });
    };
    process.once('SIGTERM', () => { log.info({ signal: 'SIGTERM' }, 'stopping'); stop('SIGTERM', 0); });
    process.once('SIGINT', () => { log.info({ signal: 'SIGINT' }, 'stopping'); stop('SIGINT', 0); });
    void live.fatal.then((reason) => {
      log.fatal({ reason, exitCode: 1 }, `warden exiting: ${reason}`);
      stop(reason, 1);
    });
  });
  if (code !== 0) process.exit(code);
  // Everything is committed and closed; a client library's stray timer must not keep a stopped service alive.
  setTimeout(() => {
    log.warn('handles still open 5 s after a clean stop; exiting');
    process.exit(0);
  }, 5000).unref();
  return 0;
}

/** A start that cannot go on: one fatal line (the code, the cause, the variable to check) and exit 1, whatever is still connecting. */
function exitStart(log: Logger, err: unknown): never {
  const code = err instanceof WardenError ? err.code : undefined;
  log.fatal({ code, exitCode: 1 }, `warden exiting: ${errorMessage(err)}`);
  process.exit(1);
}

function listenError(err: unknown, http: { port: number; host: string }): WardenError {
  const code = (err as NodeJS.ErrnoException).code;
  const where = `${http.host}:${http.port}`;
  const why = code === 'EADDRINUSE' ? `port ${http.port} is already in use (set WARDEN_HTTP_PORT to a free port)`
    : code === 'EACCES' ? `not allowed to listen on port ${http.port} (set WARDEN_HTTP_PORT to 1024 or above)`
    : code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' ? `"${http.host}" is not an address of this host (set WARDEN_HTTP_HOST)`
    : `${errorMessage(err)} (check WARDEN_HTTP_PORT and WARDEN_HTTP_HOST)`;
  return new WardenError('START_HTTP', `cannot serve /healthz, /readyz and /metrics on ${where}: ${why}`, { cause: err });
}
