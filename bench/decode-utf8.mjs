// Per-event cost of msgpack decoding, the library's lossy strings vs Warden's strict ones.
// CPU time of this process (not wall time), one decoder per process so neither deoptimises the other:
//   node bench/decode-utf8.mjs lossy; node bench/decode-utf8.mjs strict; node bench/decode-utf8.mjs event
import { Decoder, encode } from '@msgpack/msgpack';
import { strictDecoder } from '../dist/src/event/utf8.js';
import { decodeEvent } from '../dist/src/event/codec.js';

const L = 64 * 1024;
const opts = { useBigInt64: false, maxStrLength: L, maxBinLength: L, maxArrayLength: L, maxMapLength: L, maxExtLength: L };
const event = {
  id: '7f3a2c1e-4b5d-4e6f-8a9b-0c1d2e3f4a5b', ts: 1764630000000, identity: 'spiffe://acme.example/agent/support-bot/7f3a',
  action: 'crm.read', resource: 'crm:customers/42', chain: ['spiffe://acme.example/agent/orchestrator/1'], agentClass: 'support-bot',
  instance: 'i-7f3a', task: 'ticket-991', correlationId: 'c-12345', tenant: 'acme', outcome: 'allowed',
};
const bytes = Buffer.from(encode(event));
const which = process.argv[2] ?? 'strict';
const d = which === 'lossy' ? new Decoder(opts) : strictDecoder(opts);
const fn = which === 'event' ? (b) => decodeEvent(b) : (b) => d.decode(b);
const N = 300_000;
const runs = [];
for (let r = 0; r < 9; r++) {
  for (let i = 0; i < 30_000; i++) fn(bytes);
  const t = process.cpuUsage();
  for (let i = 0; i < N; i++) fn(bytes);
  const u = process.cpuUsage(t);
  runs.push(((u.user + u.system) * 1000) / N);
}
runs.sort((a, b) => a - b);
console.log(`${which}: ${runs[4].toFixed(0)} ns of CPU per ${bytes.length}-byte event (median of 9)`);
