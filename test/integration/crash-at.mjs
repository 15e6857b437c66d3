// `warden run` (the service from dist/, on REDIS_URL: one Redis or a cluster) that SIGKILLs itself at one exact
// point of the outbox's life, for test/integration/outbox-recovery.test.ts:
//   CRASH_AT=commit  the first commit that appends records is in Redis; nothing published
//   CRASH_AT=ack     those records are published; their acknowledgement not sent
// The config directory is the first argument; settings come from the environment.
import { createHash } from 'node:crypto';
import { pino } from 'pino';
import { loadConfig } from '../../dist/src/config/load.js';
import { startService } from '../../dist/src/service/start.js';
import { settingsFromEnv } from '../../dist/src/service/settings.js';
import { loadScripts } from '../../dist/src/state/script-loader.js';
import { createRedis } from '../../dist/src/state/redis-connection.js';

const at = process.env.CRASH_AT;
if (at !== 'commit' && at !== 'ack') throw new Error(`CRASH_AT must be commit or ack, got ${at}`);
const sha = (lua) => createHash('sha1').update(lua).digest('hex');
const shaOf = (name) => sha(loadScripts().find((s) => s.name === name).lua);
const [commit, ack] = [shaOf('wardenCommit'), shaOf('wardenAck')];
const die = () => process.kill(process.pid, 'SIGKILL');

// One Redis or a Redis Cluster (redis+cluster://): the commit and ack scripts are direct calls on either, never pipelined.
const redis = createRedis(process.env.REDIS_URL);
const send = redis.sendCommand.bind(redis);
let published = false;
redis.sendCommand = (cmd, ...rest) => {
  const script = cmd.name === 'evalsha' ? String(cmd.args[0]) : cmd.name === 'eval' ? sha(String(cmd.args[0])) : '';
  if (script === ack && published) die();
  const out = send(cmd, ...rest);
  // [sha, numkeys, base, batch, ttl, ...records]
  if (script === commit && cmd.args.length > 5) {
    // Runs before the service sees the reply: the commit is durable, nothing after it has happened.
    if (at === 'commit') cmd.promise.then(die);
    else published = true;
  }
  return out;
};

const log = pino({ level: 'warn' }, pino.destination(2));
await startService({ config: await loadConfig(process.argv[2] ?? 'config'), log, settings: settingsFromEnv(), redis });
