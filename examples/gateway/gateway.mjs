#!/usr/bin/env node
// A tiny gateway in front of agent actions: asks the local enforcer, records
// the attributed event for Warden, answers. Build first: npx tsc -p tsconfig.json
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { createEnforcer, keyringFromEnv } from 'warden/enforcer';
import { createProducer, InvalidEventError } from 'warden/producer';

const env = process.env;
const brokers = (env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const port = Number(env.PORT ?? 8080);
const actionsTopic = env.WARDEN_TOPIC_ACTIONS ?? 'agent.actions';
const keys = keyringFromEnv(env);
if (!keys.ok) {
  console.error(`gateway: ${keys.reason}`);
  process.exit(2);
}

const line = (level) => (fields, msg) => console.error(JSON.stringify({ level, msg, ...fields }));
const logger = { info: line('info'), warn: line('warn'), error: line('error') };
const enforcer = createEnforcer({ brokers, topic: env.WARDEN_TOPIC_COMMANDS, keyring: keys.keyring, clientId: 'example-gateway', logger });
// Checks each event as Warden will, keys it by identity on its partition, batches; a full buffer refuses rather than queues.
const producer = createProducer({ brokers, topic: actionsTopic, clientId: 'example-gateway', onFull: 'reject' });

const isText = (x) => typeof x === 'string' && x.length > 0;

function reply(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function readJson(req) {
  let size = 0;
  const chunks = [];
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) throw new Error('body over 64 KiB');
    chunks.push(chunk);
  }
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

async function act(req, res) {
  let body;
  try {
    body = await readJson(req);
  } catch (err) {
    return reply(res, 400, { error: `invalid JSON body: ${err.message}` });
  }
  const { identity, action, resource, chain } = body ?? {};
  if (!isText(identity) || !isText(action) || !isText(resource)) return reply(res, 400, { error: 'identity, action and resource must be non-empty strings' });
  if (chain !== undefined && !(Array.isArray(chain) && chain.every(isText))) return reply(res, 400, { error: 'chain must be an array of non-empty strings' });

  const decision = enforcer.check(identity, action, chain);
  // No agentClass: Warden classifies the caller by its identity (manifests' `identities`), not by a claim.
  const event = { id: randomUUID(), ts: Date.now(), identity, action, resource, ...(chain?.length ? { chain } : {}), outcome: decision.allow ? 'allowed' : 'denied' };
  try {
    await producer.send(event);
  } catch (err) {
    if (err instanceof InvalidEventError) return reply(res, 400, { error: err.message, code: err.code });
    // Fail closed: an action Warden cannot see is not allowed.
    logger.error({ err: err.message }, 'cannot record the action');
    return reply(res, 503, { error: 'cannot record the action' });
  }
  if (decision.allow) return reply(res, 200, { allowed: true });
  return reply(res, 403, { denied: true, reason: decision.reason, suspended: decision.identity, scope: decision.scope, until: decision.until });
}

const server = createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/act') return void act(req, res).catch((err) => reply(res, 500, { error: err.message }));
  if (req.method === 'GET' && req.url === '/healthz') return reply(res, 200, enforcer.stats());
  reply(res, 404, { error: 'POST /act or GET /healthz' });
});

await producer.connect();
await enforcer.start();
server.listen(port, () => logger.info({ port, actionsTopic }, 'gateway listening'));

let closing = false;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, async () => {
    if (closing) return;
    closing = true;
    server.close();
    await Promise.allSettled([enforcer.stop(), producer.close()]);
    process.exit(0);
  });
}
