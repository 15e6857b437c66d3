/**
 * `warden replay … | head`: once the reader has gone, stdout fails with EPIPE.
 * That is the reader's choice, not an error: stop at once, quietly, exit 0.
 */
export function exitQuietlyOnEpipe(stream: NodeJS.WriteStream): void {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
}
