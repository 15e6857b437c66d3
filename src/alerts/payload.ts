import { createHash } from 'node:crypto';
import type { Severity } from '../config/types.js';
import type { Detection } from '../detector.js';
import type { AlertReceiver } from './config.js';

export interface Alert {
  detection: Detection;
  /** 0 for a first alert; N for the follow-up summarising N detections folded into the group. */
  folded: number;
}

/** Stable across retries and restarts, so receivers can drop the duplicates at-least-once delivery allows. */
export function alertId(receiver: string, d: Pick<Detection, 'identity' | 'eventId' | 'detector' | 'rule'>): string {
  return createHash('sha256').update([receiver, d.identity, d.eventId, d.detector, d.rule].join('\u0000')).digest('hex');
}

const PD_SEVERITY: Record<Severity, 'critical' | 'error' | 'warning' | 'info'> = {
  critical: 'critical', high: 'error', medium: 'warning', low: 'info',
};

function headline(a: Alert): string {
  const d = a.detection;
  const what = `${d.decision === 'suspend' ? 'suspended' : 'alert'}: ${d.identity} ${d.detector}/${d.rule}`;
  return a.folded > 0 ? `Warden ${what} (${a.folded} more since the last alert for this identity and detector)` : `Warden ${what}`;
}

const slackEscape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function slack(a: Alert, id: string): unknown {
  const d = a.detection;
  const field = (label: string, value: string) => ({ type: 'mrkdwn', text: `*${label}*\n${slackEscape(value)}` });
  return {
    text: `[${d.severity.toUpperCase()}] ${headline(a)}: ${d.reason}`,
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: headline(a).slice(0, 150) } },
      {
        type: 'section',
        fields: [
          field('Identity', d.identity), field('Detector', `${d.detector}/${d.rule}`),
          field('Severity', d.severity), field('Decision', `${d.decision} (${d.mode}, scope ${d.scope})`),
        ],
      },
      { type: 'section', text: { type: 'mrkdwn', text: slackEscape(d.reason) } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: slackEscape(`event ${d.eventId} · action ${d.action} · alert ${id.slice(0, 16)}`) }] },
    ],
  };
}

function pagerduty(a: Alert, id: string, routingKey: string): unknown {
  const d = a.detection;
  return {
    routing_key: routingKey,
    event_action: 'trigger',
    dedup_key: `${d.identity}|${d.detector}`,
    payload: {
      summary: `${headline(a)}: ${d.reason}`.slice(0, 1024),
      source: 'warden',
      severity: PD_SEVERITY[d.severity],
      timestamp: new Date(d.ts).toISOString(),
      component: d.detector,
      group: d.identity,
      class: d.rule,
      custom_details: {
        alertId: id, folded: a.folded, identity: d.identity, detector: d.detector, rule: d.rule, decision: d.decision,
        mode: d.mode, scope: d.scope, eventId: d.eventId, action: d.action, resource: d.resource, reason: d.reason, evidence: d.evidence,
      },
    },
  };
}

/** The request body for one receiver. */
export function buildPayload(receiver: AlertReceiver, a: Alert): { alertId: string; body: string } {
  const id = alertId(receiver.name, a.detection);
  let payload: unknown;
  if (receiver.format === 'slack') payload = slack(a, id);
  else if (receiver.format === 'pagerduty') payload = pagerduty(a, id, receiver.routingKey ?? '');
  else payload = { alertId: id, receiver: receiver.name, folded: a.folded, detection: a.detection };
  return { alertId: id, body: JSON.stringify(payload) };
}
