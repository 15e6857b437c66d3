import { formatIssue, type ConfigIssue } from '../config/errors.js';
import { validateConfigDir } from '../config/load.js';
import { parse, required } from './args.js';

const USAGE = `usage: warden validate-config DIR

Checks detectors.yaml, agents/*.yaml and overrides/*.yaml in DIR. Prints every
problem with the file, the line, the path inside the file and the reason; exits
1 if there is any. Warnings (an override's agentClass glob no manifest has,
identities two manifests bind) are printed too, and do not fail it.`;

export async function validateConfigCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { help: { type: 'boolean', short: 'h' } }, USAGE);
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const dir = required(positionals[0], 'DIR (a positional argument)', USAGE);
  const result = await validateConfigDir(dir);
  if (result.ok) {
    const c = result.config;
    process.stdout.write(`${dir}: ok (version ${c.version}, ${c.manifests.size} agent manifests, ${c.overrides.length} overrides)\n`);
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
