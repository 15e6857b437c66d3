// kafkajs here is the reference Warden's placement is checked against, not a transport.
import { Partitioners, type PartitionMetadata } from 'kafkajs';
import type { InboundMessage } from '../../src/transport/types.js';
import { describe, expect, it } from 'vitest';
import { parseKeyring } from '../../src/commands/keyring.js';
import { DEFAULT_TIME_BOUNDS } from '../../src/event/time.js';
import { FORWARD_HEADER, forwardHeaders, verifyForward } from '../../src/pipeline/forward.js';
import { OutboxEncoder, DEFAULT_TOPICS } from '../../src/pipeline/outbox.js';
import { toRecord } from '../../src/service/decode.js';
import { Router } from '../../src/service/route.js';
import { keyPartition } from '../../src/transport/murmur2.js';

const ring = (() => {
  const r = parseKeyring(`k1=${Buffer.alloc(32, 7).toString('base64')}`);
  if (!r.ok) throw new Error(r.reason);
  return r.keyring;
})();
const other = (() => {
  const r = parseKeyring(`k1=${Buffer.alloc(32, 8).toString('base64')}`);
  if (!r.ok) throw new Error(r.reason);
  return r.keyring;
})();
const NOW = Date.UTC(2026, 11, 2, 12);

function message(identity: string, headers: Record<string, string> = {}, ts = NOW): InboundMessage {
  const value = Buffer.from(JSON.stringify({ id: 'e1', ts, identity, action: 'email.send', resource: 'email:x@y.z' }));
  return { key: Buffer.from('some-key'), value, offset: '7', timestamp: String(NOW), attributes: 0, headers } as unknown as InboundMessage;
}

describe('the owner partition of an identity', () => {
  it('is where kafkajs\' default partitioner (Java\'s murmur2) puts a record keyed by it', () => {
    const place = Partitioners.DefaultPartitioner();
    const ids = ['', 'a', 'ab', 'abc', 'abcd', 'spiffe://acme.example/agent/support-bot/7', 'bot-ÿ', '\u{1F600}', 'x'.repeat(1001)];
    for (let i = 0; i < 200; i++) ids.push(`spiffe://acme.example/agent/${i.toString(36)}/${'z'.repeat(i % 7)}`);
    for (const n of [1, 3, 6, 12, 50]) {
      const partitionMetadata = Array.from({ length: n }, (_, p) => ({ partitionId: p, leader: 0 })) as PartitionMetadata[];
      for (const id of ids) expect(keyPartition(id, n), `${id} of ${n}`).toBe(place({ topic: 't', partitionMetadata, message: { key: id, value: null } }));
    }
  });
});

describe('forwarded records', () => {
  const value = new TextEncoder().encode('{"x":1}');

  it('verify only with Warden\'s key, for the partition, source and value they were signed for', () => {
    const h = forwardHeaders(ring, 4, 1, 99n, value);
    expect(h).toMatchObject({ [FORWARD_HEADER.from]: '1', [FORWARD_HEADER.offset]: '99' });
    const get = (over: Record<string, string | undefined> = {}) => (name: string) => ({ ...h, ...over })[name];
    expect(verifyForward(ring, 4, get(), value)).toStrictEqual({ from: 1, offset: 99n });
    expect(verifyForward(other, 4, get(), value)).toBeNull();
    expect(verifyForward(ring, 5, get(), value)).toBeNull();
    expect(verifyForward(ring, 4, get({ [FORWARD_HEADER.offset]: '100' }), value)).toBeNull();
    expect(verifyForward(ring, 4, get({ [FORWARD_HEADER.from]: '2' }), value)).toBeNull();
    expect(verifyForward(ring, 4, get(), new TextEncoder().encode('{"x":2}'))).toBeNull();
    expect(verifyForward(ring, 4, get({ [FORWARD_HEADER.sig]: undefined }), value)).toBeNull();
    expect(verifyForward(ring, 4, get({ [FORWARD_HEADER.offset]: '099' }), value)).toBeNull();
    // A forward never claims the partition it is on.
    expect(verifyForward(ring, 1, (name) => forwardHeaders(ring, 1, 1, 99n, value)[name], value)).toBeNull();
  });

  it('are routed: off the owner forwarded, a verified forward counted where it lands (never again), a forged one like any record', () => {
    const router = new Router(6, ring);
    const id = 'spiffe://acme.example/agent/support-bot/mailer';
    const owner = router.owner(id);
    const elsewhere = (owner + 1) % 6;
    const at = (m: InboundMessage, here: number) => {
      const f = router.forwardedOf(m, here);
      const rec = toRecord(m, NOW, DEFAULT_TIME_BOUNDS, f === null);
      router.route(m, rec, here, f);
      return rec;
    };
    expect(at(message(id), owner)).toMatchObject({ ok: true });
    expect(at(message(id), owner).forward).toBeUndefined();
    const sent = at(message(id), elsewhere);
    expect(sent.ok && sent.forward).toStrictEqual({ partition: owner, value: message(id).value });

    // What the outbox makes of it arrives verified; forwarded again it would loop: it is counted where it lands.
    const [record] = new OutboxEncoder(DEFAULT_TOPICS, DEFAULT_TOPICS.actions, ring).encode(
      [{ kind: 'forward', forward: { offset: 7n, to: owner, identity: id, value: message(id).value! } }], `${DEFAULT_TOPICS.actions}:${elsewhere}`);
    expect(record).toMatchObject({ topic: DEFAULT_TOPICS.actions, partition: owner, key: id });
    const arrived = message(id, record!.headers);
    const got = at(arrived, owner);
    expect(got.ok && got.forwarded).toStrictEqual({ from: elsewhere, offset: 7n });
    expect(got.ok && got.forward).toBeUndefined();
    // Old by the wall clock here: it was bounded where it was first read.
    const old = message(id, {}, NOW - 40 * 86_400_000);
    const [late] = new OutboxEncoder(DEFAULT_TOPICS, DEFAULT_TOPICS.actions, ring).encode(
      [{ kind: 'forward', forward: { offset: 8n, to: owner, identity: id, value: old.value! } }], `${DEFAULT_TOPICS.actions}:${elsewhere}`);
    expect(at(message(id, {}, NOW - 40 * 86_400_000), owner).ok).toBe(false);
    expect(at({ ...old, headers: late!.headers } as InboundMessage, owner)).toMatchObject({ ok: true, forwarded: { from: elsewhere, offset: 8n } });

    // Headers a producer made up: not a forward; off the owner it is forwarded as any record is.
    const forged = message(id, { [FORWARD_HEADER.from]: String(elsewhere), [FORWARD_HEADER.offset]: '999999', [FORWARD_HEADER.sig]: 'k1.AAAA' });
    expect(at(forged, owner).ok && at(forged, owner).forwarded).toBeUndefined();
    expect(at(forged, (owner + 2) % 6)).toMatchObject({ forward: { partition: owner } });
  });
});
