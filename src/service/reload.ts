import { watch, type FSWatcher } from 'node:fs';
import type { Logger } from 'pino';
import { loadConfig } from '../config/load.js';
import type { WardenConfig } from '../config/types.js';
import { errorMessage } from '../errors.js';

/**
 * Reloads the config on SIGHUP and when a file in the directory changes. The
 * new config is validated first; on any error the running one stays in force.
 */
export function watchConfig(dir: string, apply: (c: WardenConfig) => void, log: Logger, onResult?: (ok: boolean) => void): () => void {
  let timer: NodeJS.Timeout | undefined;
  let current = '';
  const reload = (why: string): void => {
    loadConfig(dir).then(
      (next) => {
        if (next.version === current) return;
        current = next.version;
        apply(next);
        log.info({ configVersion: next.version, why }, 'config reloaded');
        onResult?.(true);
      },
      (err) => {
        log.error({ err: errorMessage(err), why }, 'config reload refused; the running config stays in force');
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

