import { createRedis, DEFAULT_REDIS_URL } from '../state/redis-connection.js';
import { collectBreakers, type IdentityBreaker } from '../state/breaker-view.js';
import { DEFAULT_PREFIX, validatePrefix } from '../state/keys.js';
import { WardenError } from '../errors.js';
import { parse } from './args.js';
import { breakerControl } from './breaker-control.js';
import { fitTable, printable, terminalColumns } from './fit-table.js';
import { TIME } from './render-demo.js';

const USAGE = `usage: warden breaker list [--wide] [--json]
       warden breaker show IDENTITY [--wide] [--json]
       warden breaker suspend IDENTITY --reason TEXT [--ttl 2h] [--scope ACTION]
       warden breaker resume IDENTITY --reason TEXT [--scope ACTION]

list and show read the circuit breakers as the service keeps them in Redis
(REDIS_URL, WARDEN_REDIS_PREFIX): every identity with a suspension, probation
or strikes, or one identity's whole state. Times are event time. On a terminal
(or with COLUMNS set) long identities are shortened in the middle and reasons at
the end to fit; --wide or --json prints them whole.
suspend and resume: warden breaker suspend --help.`;


function rows(b: IdentityBreaker): string[][] {
  return Object.entries(b.breaker).map(([scope, s]) => [
    b.identity, scope === '*' ? 'whole identity' : scope, s.phase, String(s.strikes),
    s.phase === 'closed' ? '-' : TIME(s.until), s.phase === 'closed' ? '-' : TIME(s.probationUntil), s.detector ?? 'operator', s.reason,
  ]);
}

const HEAD = ['identity', 'scope', 'phase', 'strikes', 'until', 'probation until', 'detector', 'reason'];

function table(all: string[][], columns: number | undefined): string {
  const t = fitTable(HEAD, all, columns);
  return t.shortened ? `${t.text}\n(shortened to ${columns} columns: --wide or --json for whole identities and reasons)` : t.text;
}

export async function breakerCommand(argv: string[]): Promise<number> {
  if (argv[0] === 'suspend' || argv[0] === 'resume') return breakerControl(argv[0], argv.slice(1));
  const { values, positionals } = parse(argv, { json: { type: 'boolean', default: false }, wide: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' } }, USAGE);
  const [sub, identity] = positionals;
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  if (sub === undefined) throw new WardenError('CLI_USAGE', `breaker needs a command (list, show, suspend or resume)\n\n${USAGE}`);
  if (sub !== 'list' && sub !== 'show') throw new WardenError('CLI_USAGE', `unknown breaker command "${sub}" (list, show, suspend or resume)\n\n${USAGE}`);
  if (sub === 'show' && !identity) throw new WardenError('CLI_USAGE', `breaker show needs an IDENTITY\n\n${USAGE}`);
  const columns = values.wide ? undefined : terminalColumns();
  const prefix = validatePrefix(process.env.WARDEN_REDIS_PREFIX ?? DEFAULT_PREFIX);
  const redis = createRedis(process.env.REDIS_URL ?? DEFAULT_REDIS_URL);
  try {
    const found = await collectBreakers(redis, prefix, sub === 'show' ? identity : undefined);
    if (values.json) {
      for (const b of found) process.stdout.write(JSON.stringify(b) + '\n');
    } else if (sub === 'show' && found.length === 0) {
      process.stdout.write(`${printable(identity!)}: not seen (or expired after its idle TTL)\n`);
    } else if (sub === 'show') {
      for (const b of found) {
        const seen = b.firstSeen === null ? 'no events on record' : `first seen ${TIME(b.firstSeen)}, ${b.events} events`;
        process.stdout.write(`${printable(b.identity)}\n  partition ${b.partition}, ${seen}\n`);
        process.stdout.write(Object.keys(b.breaker).length === 0 ? '  breaker closed, no strikes\n' : table(rows(b), columns) + '\n');
      }
    } else {
      process.stdout.write(found.length === 0 ? 'no breakers open, on probation or with strikes\n' : table(found.flatMap(rows), columns) + '\n');
    }
    return sub === 'show' && found.length === 0 ? 1 : 0;
  } finally {
    redis.disconnect();
  }
}
