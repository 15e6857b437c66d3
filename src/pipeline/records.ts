import type { BreakerCommand } from '../breaker/types.js';
import type { ControlOutcome } from '../control/types.js';
import type { Detection } from '../detector.js';
import type { DeadLetter, OutputItem } from './outputs.js';

/** The JSON shapes written to the decisions topic and to replay output. Field order is fixed for byte-identical output. */
export function decisionRecord(d: Detection, commandId: string | null): Record<string, unknown> {
  return { kind: 'detection', ...d, commandId };
}

export function commandRecord(c: BreakerCommand): Record<string, unknown> {
  return { kind: 'command', ...c };
}

export function controlRecord(c: ControlOutcome): Record<string, unknown> {
  return { kind: 'control', ...c };
}

export function deadLetterRecord(dl: DeadLetter, index?: number): Record<string, unknown> {
  return { kind: 'invalid', offset: index ?? Number(dl.offset), code: dl.code, field: dl.field ?? null, message: dl.message };
}

export function outputRecord(item: OutputItem): Record<string, unknown> {
  if (item.kind === 'detection') return decisionRecord(item.detection, item.commandId);
  if (item.kind === 'command') return commandRecord(item.command);
  if (item.kind === 'control') return controlRecord(item.control);
  if (item.kind === 'forward') return { kind: 'forward', offset: Number(item.forward.offset), partition: item.forward.to, identity: item.forward.identity };
  return deadLetterRecord(item.deadLetter);
}
