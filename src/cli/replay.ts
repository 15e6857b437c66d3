import { createWriteStream } from 'node:fs';
import { finished } from 'node:stream/promises';
import { operatorKeyringFromEnv } from '../commands/keyring.js';
import { loadConfig } from '../config/load.js';
import { WardenError } from '../errors.js';
import { openInput, readEventStream } from '../event/read-stream.js';
import { readCloudTrail } from '../cloudtrail/read.js';
import { replay } from '../pipeline/replay.js';
import { timeBoundsSettings } from '../service/settings.js';
import { parse, required } from './args.js';

const USAGE = `usage: warden replay [--format warden|cloudtrail] --input FILE|- [--config DIR] [--output FILE|-] [--quiet]
       warden replay [--format warden|cloudtrail] FILE|- [...]

Replays a recording (JSON Lines or msgpack stream, gzip ok; - for stdin) through
the detectors and breaker, and writes detections, breaker commands and invalid
records as JSON Lines, then one summary line. Same input and config, same bytes.

--format cloudtrail reads AWS CloudTrail instead: the files CloudTrail delivers
to S3 ({"Records":[...]}, gzip ok), EventBridge events or records, one JSON
value after another; each record is mapped as README "CloudTrail" describes,
and one that cannot be is an invalid line with its CLOUDTRAIL_* code.

Operator controls in the recording are verified with WARDEN_OPERATOR_KEYS (else
WARDEN_COMMAND_KEYS), as the service does; without keys they are reported
invalid (CONTROL_UNVERIFIABLE) and change nothing.

Event times are bounded as the service bounds them (WARDEN_EVENT_MAX_AHEAD,
WARDEN_EVENT_MAX_AGE), against the recording's own clock instead of the wall
clock: the median time of the records around each one.`;

export async function replayCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {
    input: { type: 'string', short: 'i' },
    format: { type: 'string', short: 'f', default: 'warden' },
    config: { type: 'string', short: 'c', default: 'config' },
    output: { type: 'string', short: 'o', default: '-' },
    quiet: { type: 'boolean', short: 'q', default: false },
    help: { type: 'boolean', short: 'h' },
  }, USAGE);
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  if (positionals.length > (values.input === undefined ? 1 : 0)) throw new WardenError('CLI_USAGE', `unexpected argument "${positionals.at(-1)}"\n\n${USAGE}`);
  const input = required(values.input ?? positionals[0], 'input', USAGE);
  const format = values.format;
  if (format !== 'warden' && format !== 'cloudtrail') throw new WardenError('CLI_USAGE', `--format must be warden or cloudtrail, got "${format}"\n\n${USAGE}`);
  const config = await loadConfig(values.config);
  const keys = operatorKeyringFromEnv();
  if (!keys.ok && (process.env.WARDEN_OPERATOR_KEYS || process.env.WARDEN_COMMAND_KEYS)) throw new WardenError('SETTINGS_INVALID', keys.reason);
  const timeBounds = timeBoundsSettings();
  const toStdout = values.output === '-';
  const output = toStdout ? process.stdout : createWriteStream(values.output);
  const started = Date.now();
  let lastReport = started;
  const summary = await replay({
    records: format === 'cloudtrail' ? readCloudTrail(openInput(input)) : readEventStream(openInput(input)),
    config,
    output,
    timeBounds,
    ...(keys.ok ? { operatorKeys: keys.keyring } : {}),
    onProgress: values.quiet ? undefined : (n) => {
      const now = Date.now();
      if (now - lastReport < 1000) return;
      lastReport = now;
      process.stderr.write(`replay: ${n.toLocaleString('en-US')} records, ${Math.round(n / ((now - started) / 1000)).toLocaleString('en-US')}/s\n`);
    },
  });
  if (!toStdout) {
    output.end();
    await finished(output);
  }
  if (!values.quiet) {
    const secs = (Date.now() - started) / 1000;
    process.stderr.write(
      `replay: done: ${summary.records} records (${summary.invalid} invalid) from ${summary.identities} identities in ${secs.toFixed(1)} s; ` +
        `${summary.detections} detections, ${summary.suspensions} suspensions, ${summary.resumes} resumes\n`,
    );
  }
  if (summary.records === summary.invalid) {
    // Every record refused (or none at all): most likely the wrong file or format, not a quiet recording.
    const n = summary.records;
    const what = n === 0 ? 'the input is empty' : `${n === 1 ? 'its one record is' : `all ${n} records are`} invalid (the "invalid" lines say why)`;
    process.stderr.write(`warden replay: nothing in the input was valid: ${what}\n`);
    return 1;
  }
  return 0;
}
