import { WardenError } from '../errors.js';
import { packageVersion } from './version.js';

type Command = (argv: string[]) => Promise<number>;

const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  demo: { summary: 'run a simulated fleet with two rogue agents through the full pipeline', load: async () => (await import('./demo.js')).demoCommand },
  replay: { summary: 'replay a recording (JSONL or msgpack, or CloudTrail with --format; gzip ok) and write decisions as JSON Lines', load: async () => (await import('./replay.js')).replayCommand },
  cloudtrail: { summary: 'map AWS CloudTrail records to events: JSON Lines on stdout, or --publish to the actions topic', load: async () => (await import('./cloudtrail.js')).cloudtrailCommand },
  otlp: { summary: 'receive OpenTelemetry GenAI spans over OTLP/HTTP (/v1/traces) and publish them as events to the actions topic', load: async () => (await import('./otlp.js')).otlpCommand },
  eval: { summary: 'score replay decisions against labelled incidents', load: async () => (await import('./eval.js')).evalCommand },
  simulate: { summary: 'write a labelled simulated recording (events + incidents)', load: async () => (await import('./simulate.js')).simulateCommand },
  override: { summary: 'add, list or remove temporary detector overrides (files in DIR/overrides/)', load: async () => (await import('./override.js')).overrideCommand },
  'validate-config': { summary: 'check a config directory and print every problem', load: async () => (await import('./validate-config.js')).validateConfigCommand },
  breaker: { summary: 'list or show breakers; suspend or resume an identity as an operator', load: async () => (await import('./breaker.js')).breakerCommand },
  alerts: { summary: 'list dead-lettered alerts, or re-send them to their receivers (alerts dead list|redrive)', load: async () => (await import('./alerts.js')).alertsCommand },
  parked: { summary: 'list outputs Kafka refused after retries, parked so their partition moves on', load: async () => (await import('./parked.js')).parkedCommand },
  run: { summary: 'run the service against Kafka and Redis', load: async () => (await import('./run.js')).runCommand },
};

export function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `usage: warden <command> [options]\n\ncommands:\n${lines.join('\n')}\n\nwarden <command> --help for a command's options; warden --version for the version`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    process.stderr.write(usage() + '\n');
    return 2;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage() + '\n');
    return 0;
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    process.stderr.write(`warden: unknown command "${name}"\n\n${usage()}\n`);
    return 2;
  }
  try {
    const command = await entry.load();
    return await command(rest);
  } catch (err) {
    if (err instanceof WardenError) {
      process.stderr.write(`warden ${name}: ${err.message} [${err.code}]\n`);
      return err.code === 'CLI_USAGE' ? 2 : 1;
    }
    throw err;
  }
}
