import type { RedisClient } from '../state/redis-connection.js';
import type { Logger } from 'pino';
import type { BreakerRecord } from '../breaker/breaker.js';
import { restatement } from '../breaker/sequence.js';
import type { Keyring } from '../commands/keyring.js';
import { signCommand } from '../commands/sign.js';
import { errorMessage } from '../errors.js';
import { commandRecord } from '../pipeline/records.js';
import { scanBreakers } from '../state/breaker-view.js';
import type { KafkaTransport, OutboundMessage, Producer } from '../transport/types.js';

export const DEFAULT_REPUBLISH_INTERVAL_MS = 5 * 60_000;
/** Passes per round that restate identities whose seq moved while the round ran. */
const MAX_PASSES = 3;
const CHUNK = 500;

export interface RepublishOptions {
  redis: RedisClient;
  prefix: string;
  producer: Producer;
  topic: string;
  keyring: Keyring;
}

export interface RepublishRound {
  /** Identities with a stored breaker. */
  identities: number;
  /** Restatements published (an identity restated in two passes counts twice). */
  published: number;
  passes: number;
  /** Identities whose seq still moved after the last pass: restated next round. */
  unsettled: number;
}

/** Per identity, the stored breaker with the highest seq (an identity spread over partitions has several). */
async function storedStates(redis: RedisClient, prefix: string): Promise<Map<string, BreakerRecord>> {
  const out = new Map<string, BreakerRecord>();
  for await (const b of scanBreakers(redis, prefix)) {
    const prev = out.get(b.identity);
    if (prev === undefined || b.seq > prev.seq) out.set(b.identity, { state: b.breaker, seq: b.seq, at: b.at });
  }
  return out;
}

/**
 * One round: every identity's stored breaker state, re-published to the
 * commands topic as a signed `state` command with its current seq. Running
 * gateways count it as a repeat; a gateway that starts after compaction
 * removed (or a hostile record replaced) the identity's last command applies
 * it. Read-only on Redis: the engine alone writes breaker state.
 *
 * Compaction keeps the last record per key, so a restatement must never land
 * after a newer command: if the engine committed and published one between
 * our read and our publish, the identity's stored seq has moved, and we
 * restate it again from the new state (after our publish, so nothing newer
 * can be behind it).
 */
export async function republishOnce(opts: RepublishOptions): Promise<RepublishRound> {
  let states = await storedStates(opts.redis, opts.prefix);
  const identities = states.size;
  // Nothing was ever published for a pre-v2 state with nothing open: nothing to restate.
  let todo = [...states].filter(([, r]) => r.seq > 0 || Object.values(r.state).some((s) => s.phase === 'open'));
  let published = 0;
  let passes = 0;
  while (todo.length > 0 && passes < MAX_PASSES) {
    passes++;
    for (let i = 0; i < todo.length; i += CHUNK) {
      const messages: OutboundMessage[] = todo.slice(i, i + CHUNK).map(([identity, r]) => ({
        key: identity,
        value: JSON.stringify(commandRecord(signCommand(restatement(identity, r), opts.keyring))),
      }));
      await opts.producer.send([{ topic: opts.topic, messages }], -1);
    }
    published += todo.length;
    const sent = new Map(todo.map(([identity, r]) => [identity, r.seq]));
    states = await storedStates(opts.redis, opts.prefix);
    todo = [...states].filter(([identity, r]) => sent.has(identity) && sent.get(identity) !== r.seq);
  }
  return { identities, published, passes, unsettled: todo.length };
}

export interface Republisher {
  /** Resolves after the round in flight, if any. */
  stop(): Promise<void>;
}

/**
 * Re-publishes on start and then every `intervalMs`, so an erased or
 * compacted-away command is repaired within one interval plus one round. A
 * failed round (Kafka or Redis away) is logged and retried sooner.
 */
export async function startRepublisher(opts: Omit<RepublishOptions, 'producer'> & { kafka: KafkaTransport; intervalMs: number; log: Logger }): Promise<Republisher> {
  const log = opts.log.child({ module: 'republish' });
  const producer = opts.kafka.producer({ idempotent: true });
  await producer.connect();
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> = Promise.resolve();
  const round = async (): Promise<void> => {
    let next = opts.intervalMs;
    try {
      const r = await republishOnce({ ...opts, producer });
      log[r.unsettled > 0 ? 'warn' : 'info']({ ...r, topic: opts.topic }, 'breaker states re-published');
    } catch (err) {
      next = Math.min(opts.intervalMs, 15_000);
      log.error({ err: errorMessage(err), retryInMs: next }, 're-publishing breaker states failed');
    }
    if (!stopped) timer = setTimeout(() => { inFlight = round(); }, next);
  };
  inFlight = round();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await inFlight;
      await producer.disconnect();
    },
  };
}
