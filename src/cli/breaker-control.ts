import { parseDuration } from '../config/duration.js';
import { createControl } from '../control/create.js';
import { WardenError } from '../errors.js';
import { awaitControl, publishControl, watchAudit } from '../service/operator.js';
import { settingsFromEnv } from '../service/settings.js';
import { createRedis } from '../state/redis-connection.js';
import { parse, required } from './args.js';
import { TIME } from './render-demo.js';

export const CONTROL_USAGE = `usage: warden breaker suspend IDENTITY --reason TEXT [--ttl 2h] [--scope ACTION] [--operator NAME] [--wait 30s]
       warden breaker resume IDENTITY --reason TEXT [--scope ACTION] [--operator NAME] [--wait 30s]

Publishes a signed operator control to the actions topic, keyed by the identity,
and waits until Warden has applied it. Warden applies it in order with the
identity's events, through the same breaker as its own decisions, so its next
command for the identity keeps the operator's suspension in force.

  --reason     why (required; in the audit trail and the command)
  --ttl        suspend for this long (default: the breaker's maxTtl, which also caps it);
               after it, the usual probation
  --scope      one action (capability) only; default: the whole identity for suspend,
               every suspension of the identity for resume
  --operator   who (default: $USER)
  --wait       how long to wait for Warden to apply it (default 30s; 0: do not wait)

Signs with WARDEN_OPERATOR_KEYS (else WARDEN_COMMAND_KEYS), as the service has
them. Kafka and Redis settings as for \`warden run\`. Exit status: 0 applied,
1 ignored (the breaker changed after the control was issued, or nothing to
resume: the reason, from the control's audit record, is printed) or refused
(Warden does not hold the signing key: the control is on the dead-letter topic),
3 not yet applied within --wait (is \`warden run\` running?).`;

export async function breakerControl(op: 'suspend' | 'resume', argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {
    reason: { type: 'string' },
    ttl: { type: 'string' },
    scope: { type: 'string' },
    operator: { type: 'string' },
    wait: { type: 'string', default: '30s' },
    help: { type: 'boolean', short: 'h' },
  }, CONTROL_USAGE);
  if (values.help) {
    process.stdout.write(CONTROL_USAGE + '\n');
    return 0;
  }
  const [identity, extra] = positionals;
  if (!identity) throw new WardenError('CLI_USAGE', `breaker ${op} needs an IDENTITY\n\n${CONTROL_USAGE}`);
  if (extra !== undefined) throw new WardenError('CLI_USAGE', `breaker ${op} takes one IDENTITY, got also "${extra}" (quote an identity with spaces)\n\n${CONTROL_USAGE}`);
  const reason = required(values.reason, 'reason', CONTROL_USAGE);
  if (op === 'resume' && values.ttl !== undefined) throw new WardenError('CLI_USAGE', `--ttl is for suspend only\n\n${CONTROL_USAGE}`);
  const operator = values.operator ?? process.env.USER ?? '';
  if (operator === '') throw new WardenError('CLI_USAGE', `--operator is required when $USER is not set\n\n${CONTROL_USAGE}`);
  const ttlMs = values.ttl === undefined ? null : duration('ttl', values.ttl);
  const waitMs = duration('wait', values.wait);

  const settings = settingsFromEnv(process.env, { operator: true });
  const control = createControl({
    op, identity, scope: values.scope ?? (op === 'suspend' ? '*' : null), ttlMs, reason, operator,
  }, settings.operatorKeyring);
  // Follow the audit trail before publishing, so the control's record cannot slip past.
  const audit = waitMs === 0 ? undefined : await watchAudit(settings, control.id);
  try {
    const at = await publishControl(settings, control);
    process.stdout.write(`published ${op} ${control.id} for ${identity} to ${at.topic}[${at.partition}] at offset ${at.offset} (key id ${control.kid})\n`);
    if (!audit) return 0;
    const redis = createRedis(settings.redis.url);
    try {
      const seen = await awaitControl(redis, settings.redis.prefix, at, control, audit, waitMs);
      if (seen.status === 'pending') {
        process.stdout.write(`not applied within ${values.wait}: is \`warden run\` consuming ${at.topic}? It will apply the control when it gets to it.\n`);
        return 3;
      }
      if (seen.status === 'refused') {
        process.stdout.write(`refused: Warden processed it but wrote no audit record; see ${settings.topics.deadLetter} for why ` +
          `(usually a key Warden does not have: this control was signed with key id ${control.kid})\n`);
      } else {
        process.stdout.write(seen.status === 'applied' ? `applied\n  ${seen.outcome.detail}\n` : `ignored: ${seen.outcome.detail}\n`);
      }
      for (const b of seen.breakers) {
        for (const [scope, s] of Object.entries(b.breaker)) {
          const until = s.phase === 'closed' ? '' : ` until ${TIME(s.until)}`;
          process.stdout.write(`  ${scope === '*' ? 'whole identity' : scope}: ${s.phase}${until} (${s.reason})\n`);
        }
      }
      return seen.status === 'applied' ? 0 : 1;
    } finally {
      redis.disconnect();
    }
  } finally {
    await audit?.close();
  }
}

function duration(flag: string, raw: string): number {
  const d = parseDuration(raw);
  if (!d.ok) throw new WardenError('CLI_USAGE', `--${flag}: ${d.reason}\n\n${CONTROL_USAGE}`);
  return d.ms;
}
