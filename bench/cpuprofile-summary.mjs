// The top 20 functions of a `node --cpu-prof` profile by self time and by total time.
// usage: node bench/cpuprofile-summary.mjs FILE.cpuprofile
import { readFileSync } from 'node:fs';

const profile = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const name = (n) => `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.split('/').slice(-2).join('/')}:${n.callFrame.lineNumber + 1}`;

// Time per sampled node: each sample's delta belongs to the node it landed in.
const sampled = new Map();
profile.samples.forEach((id, i) => sampled.set(id, (sampled.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));

const self = new Map();
const total = new Map();
let all = 0;
const add = (m, k, t) => m.set(k, (m.get(k) ?? 0) + t);
for (const [id, t] of sampled) {
  all += t;
  add(self, name(nodes.get(id)), t);
  // Total time: once per distinct function on the stack (recursion counts once).
  const onStack = new Set();
  for (let x = id; x !== undefined; x = parent.get(x)) onStack.add(name(nodes.get(x)));
  for (const k of onStack) add(total, k, t);
}

const top = (m, label) => {
  for (const [k, t] of [...m].sort((a, b) => b[1] - a[1]).slice(0, 20)) console.log(label, `${((100 * t) / all).toFixed(1)}%`, k);
};
top(self, 'self');
top(total, 'total');
