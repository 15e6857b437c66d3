import { signCommand } from '../commands/sign.js';
import type { Keyring } from '../commands/keyring.js';
import type { OutboxRecord } from '../state/types.js';
import type { OutputItem } from './outputs.js';
import { deadLetterOutbox } from './dead-letter.js';
import { DEFAULT_RECORD_LIMIT } from './record-size.js';
import { forwardHeaders } from './forward.js';
import { commandRecord, controlRecord, decisionRecord } from './records.js';

export interface Topics {
  actions: string;
  deadLetter: string;
  commands: string;
  decisions: string;
}

export const DEFAULT_TOPICS: Topics = Object.freeze({
  actions: 'agent.actions',
  deadLetter: 'agent.actions.dlq',
  commands: 'warden.commands',
  decisions: 'warden.decisions',
});

const encoder = new TextEncoder();

/** Turns a batch's outputs into the records the service publishes, keyed by identity. */
export class OutboxEncoder {
  /** The dead-letter topic's record limit; the service sets it from the topic's config at start. */
  deadLetterLimit = DEFAULT_RECORD_LIMIT;

  /** With a keyring every command is signed (HMAC-SHA256, key id in `kid`), as gateways require. */
  constructor(private readonly topics: Topics, private readonly sourceTopic: string, private readonly keyring?: Keyring) {}

  encode(items: readonly OutputItem[], partition: string): OutboxRecord[] {
    const out: OutboxRecord[] = [];
    for (const item of items) {
      if (item.kind === 'detection') {
        out.push({ topic: this.topics.decisions, key: item.detection.identity, value: encoder.encode(JSON.stringify(decisionRecord(item.detection, item.commandId))) });
      } else if (item.kind === 'command') {
        const value = encoder.encode(JSON.stringify(commandRecord(this.keyring ? signCommand(item.command, this.keyring) : item.command)));
        out.push({ topic: this.topics.commands, key: item.command.identity, value });
        // The audit trail holds every breaker state change beside the detections that caused it.
        out.push({ topic: this.topics.decisions, key: item.command.identity, value });
      } else if (item.kind === 'control') {
        out.push({ topic: this.topics.decisions, key: item.control.identity, value: encoder.encode(JSON.stringify(controlRecord(item.control))) });
      } else if (item.kind === 'forward') {
        const f = item.forward;
        const from = Number(partition.slice(partition.lastIndexOf(':') + 1));
        const headers = this.keyring ? forwardHeaders(this.keyring, f.to, from, f.offset, f.value) : {};
        // Keyed by its identity from here on; its value is the producer's bytes.
        out.push({ topic: this.sourceTopic, partition: f.to, key: f.identity, value: f.value, headers });
      } else {
        out.push(deadLetterOutbox(item.deadLetter, this.topics.deadLetter, this.sourceTopic, partition, this.deadLetterLimit));
      }
    }
    return out;
  }
}
