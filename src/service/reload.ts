import { watch, type FSWatcher } from 'node:fs';
import type { Logger } from 'pino';
import { loadConfig } from '../config/load.js';
import type { WardenConfig } from '../config/types.js';
import { errorMessage, WardenError } from '../errors.js';

export type ApplyConfig = (c: WardenConfig) => void | Promise<void>;

/**
 * Loads DIR as `warden run` does (alerts.yaml's secrets from the environment)
 * and applies it unless its version is `current`. A bad config throws and
 * nothing is applied: the running config, receivers included, stays.
 */
export async function reloadConfig(dir: string, current: string, apply: ApplyConfig, env: NodeJS.ProcessEnv = process.env): Promise<WardenConfig | null> {
  const next = await loadConfig(dir, { env });
  if (next.version === current) return null;
  try {
    await apply(next);
  } catch (err) {
    throw new WardenError('CONFIG_APPLY_FAILED', `config ${next.version} is valid but could not be applied in full (a reload retries it): ${errorMessage(err)}`, { cause: err });
  }
  return next;
}

/**
 * Reloads the config on SIGHUP and when a file in the directory changes. The
 * new config is validated first; on any error the running one stays in force.
 */
export function watchConfig(dir: string, apply: ApplyConfig, log: Logger, onResult?: (ok: boolean) => void, initialVersion = ''): () => void {
  let timer: NodeJS.Timeout | undefined;
  let current = initialVersion;
  // One reload at a time: a SIGHUP and the watcher firing together must not apply twice or out of order.
  let chain: Promise<void> = Promise.resolve();
  const reload = (why: string): void => {
    chain = chain.then(() => reloadConfig(dir, current, apply)).then(
      (next) => {
        if (next === null) return;
        current = next.version;
        log.info({ configVersion: next.version, why }, 'config reloaded');
        onResult?.(true);
      },
      (err) => {
        if ((err as WardenError).code === 'CONFIG_APPLY_FAILED') log.error({ err: errorMessage(err), why }, 'config reload failed while applying');
        else log.error({ err: errorMessage(err), why }, 'config reload refused; the running config stays in force');
        onResult?.(false);
      },
    );
  };
  const onHup = (): void => reload('SIGHUP');
  process.on('SIGHUP', onHup);
  let watcher: FSWatcher | undefined;
  try {
    // Editors save by rename; a short debounce folds the burst into one reload.
    watcher = watch(dir, { recursive: true }, () => {
      clearTimeout(timer);
      timer = setTimeout(() => reload('file change'), 300);
    });
  } catch (err) {
    log.warn({ err: errorMessage(err), dir }, 'cannot watch the config directory; reload with SIGHUP');
  }
  return () => {
    clearTimeout(timer);
    process.off('SIGHUP', onHup);
    watcher?.close();
  };
}
