import { parseArgs, type ParseArgsConfig } from 'node:util';
import { WardenError } from '../errors.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** parseArgs with our error code, so a typo gets a clear message and exit code 2. */
type Parsed<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>>;

export function parse<O extends Options>(argv: string[], options: O, usage: string): Parsed<O> {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new WardenError('CLI_USAGE', `${(err as Error).message}\n\n${usage}`);
  }
}

export function required(value: string | undefined, flag: string, usage: string): string {
  if (value === undefined || value === '') throw new WardenError('CLI_USAGE', `missing --${flag}\n\n${usage}`);
  return value;
}
