import { loadConfig } from '../config/load.js';
import { errorMessage } from '../errors.js';
import { createLogger } from '../log.js';
import { startOpsServer } from '../ops/http.js';
import { watchConfig } from '../service/reload.js';
import { settingsFromEnv } from '../service/settings.js';
import { startService } from '../service/start.js';
import { parse } from './args.js';

const USAGE = `usage: warden run [--config DIR]

Runs the service: consumes agent action events from Kafka, keeps per-identity
windows in Redis, publishes breaker commands and decisions. Connection settings
come from the environment (see README "Configuration"). SIGTERM/SIGINT finish
the batch in flight, commit and leave the group; SIGHUP or a change in DIR
reloads the config (a bad one is refused and the running one stays).
A failure no retry can mend (a consumer kafkajs will not restart) logs one
"warden exiting" line and exits 1.`;

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
  const dir = values.config;
  const settings = settingsFromEnv();
  const config = await loadConfig(dir, { env: process.env });
  const running = await startService({ config, log, settings });
  const service = running.service;
  const ops = await startOpsServer({
    notReady: () => service.notReady(), notLive: () => service.notLive(), detail: () => service.detail(), metrics: () => service.metrics.registry.render(),
  }, settings.http.port, settings.http.host).catch(async (err: unknown) => {
    // Consuming without probes would be a process nobody can see: stop and fail.
    await running.stop().catch(() => {});
    throw err;
  });
  log.info({ configVersion: config.version, dir, http: `${settings.http.host}:${ops.port}` }, 'warden running');
  const unwatch = watchConfig(dir, (next) => running.setConfig(next), log, (ok) => service.metrics.reloads.inc({ result: ok ? 'applied' : 'refused' }), config.version);

  const code = await new Promise<number>((resolve) => {
    const stop = (why: string, exitCode: number): void => {
      unwatch();
      // A stop that hangs (a broker or Redis gone) must not keep a failed process alive.
      if (exitCode !== 0) setTimeout(() => resolve(exitCode), 15_000).unref();
      Promise.all([running.stop(), ops.close()]).then(() => resolve(exitCode), (err) => {
        log.error({ err: errorMessage(err), why }, 'stop failed');
        resolve(exitCode);
      });
    };
    process.once('SIGTERM', () => { log.info({ signal: 'SIGTERM' }, 'stopping'); stop('SIGTERM', 0); });
    process.once('SIGINT', () => { log.info({ signal: 'SIGINT' }, 'stopping'); stop('SIGINT', 0); });
    void running.fatal.then((reason) => {
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
