import { loadConfig } from '../config/load.js';
import { errorMessage } from '../errors.js';
import { createLogger } from '../log.js';
import { startService } from '../service/start.js';
import { parse } from './args.js';

const USAGE = `usage: warden run [--config DIR]

Runs the service: consumes agent action events from Kafka, keeps per-identity
windows in Redis, publishes breaker commands and decisions. Connection settings
come from the environment (see README "Configuration"). SIGTERM/SIGINT finish
the batch in flight, commit and leave the group; SIGHUP reloads the config.`;

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
  const config = await loadConfig(dir);
  const service = await startService({ config, log });
  log.info({ configVersion: config.version, dir }, 'warden running');

  process.on('SIGHUP', () => {
    loadConfig(dir).then(
      (next) => {
        service.setConfig(next);
        log.info({ configVersion: next.version }, 'config reloaded');
      },
      (err) => log.error({ err: errorMessage(err) }, 'config reload refused; the running config stays in force'),
    );
  });
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      log.info({ signal }, 'stopping');
      service.stop().then(resolve, (err) => {
        log.error({ err: errorMessage(err) }, 'stop failed');
        resolve();
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  return 0;
}
