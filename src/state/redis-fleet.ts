import type { RedisClient } from './redis-connection.js';
import { errorMessage, WardenError } from '../errors.js';
import { fleetActiveKey, fleetCascadeKey, fleetCascadeSinceKey, fleetOpenKey } from './keys.js';
import { sameTick, type PipelineReplies } from './same-tick.js';
import { CASCADE_KEEP_MS, classAt, type Cascade, type FleetObservation, type FleetStore, type FleetSuspension, type FleetView } from './fleet.js';

/**
 * Two sorted sets per agent class under one hash tag (keys named by the
 * class's hash), members the identities: active (score: latest event time)
 * and open (score: end of the suspension). One pipelined round trip per
 * batch, shared with the class store's (sameTick); the keys expire so
 * classes that go quiet leave nothing behind.
 */
export class RedisFleetStore implements FleetStore {
  constructor(private readonly redis: RedisClient, private readonly prefix: string, private readonly keepMs = 7 * 86_400_000) {}

  async observe(o: FleetObservation): Promise<Map<string, FleetView>> {
    if (o.active.size === 0) return new Map();
    const classes = [...o.active.keys()];
    // Reply positions of each class's ZCARD and ZRANGE: a class with no identities this batch has no ZADD.
    const at: Array<[number, number]> = [];
    // Joins the class store's observe of the same batch, if any: one round trip for both.
    const replies = await this.exec(sameTick(this.redis, fleetActiveKey(this.prefix, ''), (p) => {
      let n = 0;
      for (const cls of classes) {
        // Each class is pruned by its own latest time: one class's far-ahead event cannot age out another's.
        const time = classAt(o, cls);
        const from = Number.isFinite(time) ? time - o.activeWindowMs : '-inf';
        const a = fleetActiveKey(this.prefix, cls);
        const s = fleetOpenKey(this.prefix, cls);
        const args: Array<string | number> = [];
        for (const [id, ts] of o.active.get(cls)!) args.push(ts, id);
        if (args.length > 0) {
          p.zadd(a, 'GT', ...args);
          n++;
        }
        p.zremrangebyscore(a, '-inf', from);
        p.zcard(a);
        p.pexpire(a, Math.max(o.activeWindowMs * 2, 60_000));
        p.zremrangebyscore(s, '-inf', from);
        p.zrange(s, '0', '-1', 'WITHSCORES');
        at.push([n + 1, n + 4]);
        n += 5;
      }
    }), 'observe');
    const out = new Map<string, FleetView>();
    classes.forEach((cls, i) => {
      const [card, range] = at[i]!;
      const flat = replies[range] as string[];
      const open = new Map<string, number>();
      for (let j = 0; j < flat.length; j += 2) open.set(flat[j]!, Number(flat[j + 1]));
      out.set(cls, { active: Number(replies[card]), open });
    });
    return out;
  }

  async suspended(list: readonly FleetSuspension[]): Promise<void> {
    if (list.length === 0) return;
    const p = this.redis.pipeline();
    for (const x of list) {
      if (x.cascade) {
        // Not GT: the latest command's state wins, so a resume shortens it.
        const cascade = fleetCascadeKey(this.prefix);
        const since = fleetCascadeSinceKey(this.prefix);
        p.zadd(cascade, x.until, x.identity);
        p.pexpire(cascade, this.keepMs);
        if (x.since === undefined) p.zrem(since, x.identity);
        else p.zadd(since, 'NX', x.since, x.identity);
        p.pexpire(since, this.keepMs);
        continue;
      }
      if (x.agentClass === null) continue;
      const key = fleetOpenKey(this.prefix, x.agentClass);
      p.zadd(key, 'GT', x.until, x.identity);
      p.pexpire(key, this.keepMs);
    }
    await this.exec(p.exec(), 'suspended');
  }

  async cascading(identities: readonly string[], at: number): Promise<Map<string, Cascade>> {
    if (identities.length === 0) return new Map();
    const key = fleetCascadeKey(this.prefix);
    const sinceKey = fleetCascadeSinceKey(this.prefix);
    // Same tag as observe's keys: joins its pipeline when asked in the same tick.
    const replies = await this.exec(sameTick(this.redis, key, (p) => {
      p.zremrangebyscore(key, '-inf', at - CASCADE_KEEP_MS);
      p.zremrangebyscore(sinceKey, '-inf', at - 2 * CASCADE_KEEP_MS);
      p.zmscore(key, ...identities);
      p.zmscore(sinceKey, ...identities);
    }), 'cascading');
    const untils = replies[2] as Array<string | null>;
    const sinces = replies[3] as Array<string | null>;
    const num = (v: string | null | undefined): number => (v === null || v === undefined ? NaN : Number(v));
    const out = new Map<string, Cascade>();
    identities.forEach((id, i) => {
      const until = num(untils[i]);
      const since = num(sinces[i]);
      if (until > at && Number.isFinite(since)) out.set(id, { since, until });
    });
    return out;
  }

  private async exec(replies: Promise<PipelineReplies | null>, what: string): Promise<unknown[]> {
    let res: PipelineReplies | null;
    try {
      res = await replies;
    } catch (err) {
      throw new WardenError('STATE_REDIS', `fleet ${what} failed: ${errorMessage(err)}`, { retriable: true, cause: err });
    }
    if (!res) throw new WardenError('STATE_REDIS', `fleet ${what}: pipeline returned nothing`, { retriable: true });
    return res.map(([err, v]) => {
      if (err) throw new WardenError('STATE_REDIS', `fleet ${what} failed: ${err.message}`, { retriable: true, cause: err });
      return v;
    });
  }
}
