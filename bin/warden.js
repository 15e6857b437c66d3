#!/usr/bin/env node
import { main } from '../dist/src/cli/main.js';
import { exitQuietlyOnEpipe } from '../dist/src/cli/epipe.js';

exitQuietlyOnEpipe(process.stdout);
exitQuietlyOnEpipe(process.stderr);
main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { process.stderr.write(`warden: ${err && err.stack ? err.stack : err}\n`); process.exitCode = 1; },
);
