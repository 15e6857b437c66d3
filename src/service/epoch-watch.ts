import type { Logger } from 'pino';
import { errorMessage } from '../errors.js';
import { checkEpoch, type EpochMarker, type EpochRedis, type LossCause } from '../state/epoch.js';
import { epochKey } from '../state/keys.js';

/** How often the marker is read between reconnects: one GET. */
export const EPOCH_CHECK_MS = 5_000;

export interface EpochWatchOptions {
  redis: EpochRedis;
  prefix: string;
  log: Logger;
  everyMs?: number;
  /**
   * The epoch began with a loss at `lostAt` (wall time). `cause` is set when
   * this process found the loss itself (count it); null when it learned of it
   * from the marker another process or an earlier run wrote.
   */
  onLoss(lostAt: number, cause: LossCause | null): void;
}

const iso = (ms: number): string => (Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : String(ms));

/** Checks the state epoch marker on start, on every Redis reconnect and every few seconds. */
export class EpochWatch {
  private known: EpochMarker | null = null;
  private inFlight: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly log: Logger;

  constructor(private readonly opts: EpochWatchOptions) {
    this.log = opts.log.child({ module: 'epoch' });
  }

  /** The first check, before consuming: its failure is the caller's. */
  async start(): Promise<void> {
    await this.check();
    this.timer = setInterval(() => void this.poll(), this.opts.everyMs ?? EPOCH_CHECK_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Between checks Redis may be away: its errors are logged by the connection; the next check tries again. */
  poll(): Promise<void> {
    return this.check().catch((err: unknown) => this.log.debug({ err: errorMessage(err) }, 'epoch check failed'));
  }

  /** One at a time: a reconnect and the timer never race each other's SET NX. */
  check(): Promise<void> {
    this.inFlight ??= this.run().finally(() => (this.inFlight = null));
    return this.inFlight;
  }

  private async run(): Promise<void> {
    const key = epochKey(this.opts.prefix);
    const r = await checkEpoch(this.opts.redis, this.opts.prefix, this.known);
    this.known = r.marker;
    if (r.kind === 'fresh') {
      this.log.info({ key, epoch: r.marker.epoch }, 'fresh state: no Warden state under this prefix yet, epoch marker written');
    } else if (r.kind === 'adopted') {
      // A loss time ahead of the clock is not one this marker could have recorded: ignored, like none.
      if (r.marker.lostAt !== undefined && r.marker.lostAt <= Date.now()) {
        this.log.info({ key, epoch: r.marker.epoch, lostAt: iso(r.marker.lostAt) }, `state was lost at ${iso(r.marker.lostAt)} (found by another Warden process or run): re-learning`);
        this.opts.onLoss(r.marker.lostAt, null);
      }
    } else if (r.kind === 'lost') {
      const what = r.cause === 'missing' ? 'the epoch marker is gone: Redis restarted empty, was flushed or failed over to an empty replica' : 'the epoch marker changed: this is another Redis, or its state was replaced';
      this.log.warn(
        { key, cause: r.cause, lostEpoch: r.previous.epoch, stateSince: iso(r.previous.createdAt), lostAt: iso(r.lostAt), epoch: r.marker.epoch },
        `Redis state lost (${what}): every identity's windows, baselines, breaker records and suppression state kept since ${iso(r.previous.createdAt)} are gone; re-learning from nothing, detections carry evidence.cold until each identity has a learning period of history`,
      );
      this.opts.onLoss(r.lostAt, r.cause);
    }
  }
}
