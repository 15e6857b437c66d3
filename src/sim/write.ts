import { createWriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { encode } from '@msgpack/msgpack';
import type { AgentEvent } from '../event/types.js';
import type { Incident } from './fleet.js';

export type RecordingEncoding = 'jsonl' | 'msgpack';

const CHUNK = 1000;

/** jsonl: one JSON object per line. msgpack: concatenated msgpack maps, no framing (a msgpack stream). */
function* chunks(events: readonly AgentEvent[], encoding: RecordingEncoding): Generator<Buffer> {
  for (let i = 0; i < events.length; i += CHUNK) {
    const slice = events.slice(i, i + CHUNK);
    if (encoding === 'jsonl') {
      let text = '';
      for (const e of slice) text += JSON.stringify(e) + '\n';
      yield Buffer.from(text, 'utf8');
    } else {
      yield Buffer.concat(slice.map((e) => encode(e, { ignoreUndefined: true })));
    }
  }
}

/** Writes a recording `warden replay` can read. */
export async function writeEvents(events: readonly AgentEvent[], path: string, encoding: RecordingEncoding, gzip = false): Promise<void> {
  const source = Readable.from(chunks(events, encoding));
  const sink: Writable = createWriteStream(path);
  if (gzip) await pipeline(source, createGzip(), sink);
  else await pipeline(source, sink);
}

export async function writeIncidents(incidents: readonly Incident[], path: string): Promise<void> {
  await writeFile(path, JSON.stringify(incidents, null, 2) + '\n', 'utf8');
}
