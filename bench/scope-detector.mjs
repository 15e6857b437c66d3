// Per-event cost of the scope detector alone (track + detect, steady state after learning), no store.
// Build first: `npx tsc -p tsconfig.json --outDir .cache/DIR`, then `WARDEN_DIST=.cache/DIR node bench/scope-detector.mjs`.
import { join, resolve } from 'node:path';

const dist = resolve(process.env.WARDEN_DIST ?? 'dist');
const { loadConfig, createResolver } = await import(join(dist, 'src/config/index.js'));
const { scope } = await import(join(dist, 'detectors/scope.js'));

const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);
// The shipped config; a class whose manifest allows everything, so the steady state is measured,
// not the outside-manifest path (set BENCH_FLOOD=1 for that: every event breaks its manifest).
const flood = process.env.BENCH_FLOOD === '1';
const config = await loadConfig(resolve('config'));
const any = { ...config.manifests.get('ops-worker'), agentClass: 'any', readOnly: false, allow: [{ action: { source: '**', test: () => true }, resource: { source: '**', test: () => true } }] };
const resolver = createResolver({ ...config, manifests: new Map([...config.manifests, ['any', any]]) });
const classes = flood ? ['support-bot'] : ['any'];
const resources = [
  (i) => ['crm.read', `crm:customers/${i % 50000}`],
  (i) => ['db.read', ['db:prod.orders', 'db:prod.customers', 'db:warehouse.sales'][i % 3]],
  (i) => ['repo.read', `git:acme/repo-${i % 40}/src/file-${i % 300}.ts`],
  (i) => ['k8s.read', `k8s:prod/pod-${i % 900}`],
  (i) => ['email.send', `email:user${i % 5000}@customer${i % 7}.example.com`],
  (i) => ['s3.get', `arn:aws:s3:::reports-${i % 3}/2024/${i}.csv`],
  (i) => ['web.fetch', `https://docs.example.org/page/${i % 1000}`],
  (i) => ['ec2.describe', `i-0${(i * 2654435761 >>> 0).toString(16)}`],
];
const events = [];
for (let i = 0; i < 4096; i++) {
  const [action, resource] = resources[i % resources.length](i);
  events.push({ id: `e${i}`, ts: 1_700_000_000_000 + 3 * 86_400_000 + i, identity: `id-${i % 64}`, action, resource, agentClass: classes[i % classes.length] });
}
// Flat strings, as the event decoder makes them (template literals above build ropes).
events.splice(0, events.length, ...JSON.parse(JSON.stringify(events)));
const ctxs = events.map((e) => resolver(e));
// Steady state: the identity is past learning and nothing is new.
const quiet = { added: false, size: 10, full: false };
const view = { identity: 'x', firstSeen: 1_700_000_000_000, events: 1000, counters: {}, distinct: {}, seen: { 'scope:act': quiet, 'scope:p1': quiet, 'scope:p2': quiet, 'scope:p3': quiet } };

function run(n) {
  let sink = 0;
  for (let i = 0; i < n; i++) {
    const j = i & 4095;
    const e = events[j];
    sink += scope.track(e, ctxs[j]).length;
    sink += scope.detect(e, view, ctxs[j]).length;
  }
  return sink;
}
run(200_000);
const t0 = process.hrtime.bigint();
const sink = run(EVENTS);
const ns = Number(process.hrtime.bigint() - t0) / EVENTS;
console.log(`scope track+detect: ${ns.toFixed(0)} ns/event (${EVENTS} events, sink ${sink})`);
