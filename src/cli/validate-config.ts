import { formatIssue, type ConfigIssue } from '../config/errors.js';
import { validateConfigDir } from '../config/load.js';
import { parse, required } from './args.js';

const USAGE = `usage: warden validate-config [--skip-env] DIR

Checks detectors.yaml, agents/*.yaml, overrides/*.yaml and alerts.yaml in DIR,
as \`warden run\` loads them. Prints every problem with the file, the line, the
path inside the file and the reason; exits 1 if there is any. The environment
variables alerts.yaml names (secretEnv, routingKeyEnv) must be set, as for
\`warden run\`; --skip-env checks the files alone (CI without the secrets).
Warnings (an override's agentClass glob no manifest has, identities two
manifests bind) are printed too, and do not fail it.`;

export async function validateConfigCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { help: { type: 'boolean', short: 'h' }, 'skip-env': { type: 'boolean' } }, USAGE);
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const dir = required(positionals[0], 'DIR (a positional argument)', USAGE);
  const result = await validateConfigDir(dir, values['skip-env'] ? {} : { env: process.env });
  if (result.ok) {
    const c = result.config;
    const receivers = c.alerts.receivers.length;
    process.stdout.write(`${dir}: ok (version ${c.version}, ${c.manifests.size} agent manifests, ${c.overrides.length} overrides, ${receivers} alert receiver${receivers === 1 ? '' : 's'})\n`);
    printWarnings(result.warnings);
    return 0;
  }
  process.stderr.write(`${dir}: ${result.issues.length} problem${result.issues.length === 1 ? '' : 's'}\n`);
  for (const issue of result.issues) process.stderr.write(`  ${formatIssue(issue)}\n`);
  return 1;
}

function printWarnings(warnings: readonly ConfigIssue[]): void {
  if (warnings.length === 0) return;
  process.stderr.write(`${warnings.length} warning${warnings.length === 1 ? '' : 's'}\n`);
  for (const w of warnings) process.stderr.write(`  warning: ${formatIssue(w)}\n`);
}
