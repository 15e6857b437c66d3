import { WardenError } from '../errors.js';

export interface ConfigIssue {
  file: string;
  /** Dotted path in the file, e.g. `detectors.rate.baseline.alpha` or `allow[2].resource`; '' for the whole file. */
  path: string;
  line?: number;
  message: string;
}

export function formatIssue(issue: ConfigIssue): string {
  const where = issue.line === undefined ? issue.file : `${issue.file}:${issue.line}`;
  return issue.path === '' ? `${where}: ${issue.message}` : `${where} ${issue.path}: ${issue.message}`;
}

export class ConfigError extends WardenError {
  readonly issues: ConfigIssue[];

  constructor(issues: ConfigIssue[]) {
    const n = issues.length;
    super('CONFIG_INVALID', `invalid config (${n} issue${n === 1 ? '' : 's'}):\n${issues.map((i) => `  ${formatIssue(i)}`).join('\n')}`);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}
