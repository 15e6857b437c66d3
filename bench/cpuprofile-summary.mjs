// Summarise a node --cpu-prof .cpuprofile: top 20 self-time and total-time functions (usage: node bench/cpuprofile-summary.mjs FILE).
import { readFileSync } from 'node:fs';
const p = JSON.parse(readFileSync(process.argv[2]));
const byId = new Map(p.nodes.map(n => [n.id, n]));
const self = new Map(); const dt = p.timeDeltas; 
const cnt = new Map(); p.samples.forEach((s,i)=>cnt.set(s,(cnt.get(s)||0)+(dt[i]||0)));
const parent = new Map(); for (const n of p.nodes) for (const c of n.children||[]) parent.set(c, n.id);
const key = n => `${n.callFrame.functionName||'(anon)'} ${n.callFrame.url.split('/').slice(-2).join('/')}:${n.callFrame.lineNumber+1}`;
const tot = new Map(); let all=0;
for (const [id,t] of cnt) { all+=t; const n=byId.get(id); self.set(key(n),(self.get(key(n))||0)+t);
  const seen=new Set(); let x=id; while(x!==undefined){const k=key(byId.get(x)); if(!seen.has(k)){seen.add(k);tot.set(k,(tot.get(k)||0)+t);} x=parent.get(x);} }
const top=(m,l)=>[...m].sort((a,b)=>b[1]-a[1]).slice(0,20).forEach(([k,v])=>console.log(l,(100*v/all).toFixed(1)+'%',k));
top(self,'self'); top(tot,'total');
