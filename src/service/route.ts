import type { Keyring } from '../commands/keyring.js';
import { FORWARD_HEADER, verifyForward, type Forwarded } from '../pipeline/forward.js';
import type { InputRecord } from '../pipeline/engine.js';
import type { InboundMessage } from '../transport/types.js';
import { keyPartition } from '../transport/murmur2.js';

const EMPTY = new Uint8Array(0);

function headerOf(message: InboundMessage, name: string): string | undefined {
  const v = message.headers?.[name];
  if (v === undefined || Array.isArray(v)) return undefined;
  return typeof v === 'string' ? v : v.toString('utf8');
}

/**
 * One state per identity, whatever the producer's partitioner or key: the
 * owner of an identity is the partition Kafka's default partitioner gives its
 * identity as key (murmur2, as kafkajs and Java producers place it). A valid
 * record read elsewhere is forwarded there rather than counted; a record that
 * arrives forwarded (its headers signed by Warden) is counted where it lands,
 * never forwarded again.
 */
export class Router {
  constructor(readonly partitions: number, private readonly keyring: Keyring) {}

  owner(identity: string): number {
    return keyPartition(identity, this.partitions);
  }

  /** The forward a message on partition `here` carries, verified; null for any other record. */
  forwardedOf(message: InboundMessage, here: number): Forwarded | null {
    if (!message.headers || message.headers[FORWARD_HEADER.sig] === undefined) return null;
    return verifyForward(this.keyring, here, (name) => headerOf(message, name), message.value ?? EMPTY);
  }

  /** Marks a decoded record: counted here (maybe as a forward), or to go to its owner. */
  route(message: InboundMessage, rec: InputRecord, here: number, forwarded: Forwarded | null): void {
    if (!rec.ok) return;
    if (forwarded) {
      rec.forwarded = forwarded;
      return;
    }
    const owner = this.owner(rec.control ? rec.control.identity : rec.event.identity);
    if (owner !== here) rec.forward = { partition: owner, value: message.value ?? EMPTY };
  }
}
