import { createHash } from 'node:crypto';
import type { Severity } from '../config/types.js';
import type { Detection } from '../detector.js';
import type { AlertReceiver } from './config.js';

export interface Alert {
  detection: Detection;
  /** 0 for a first alert; N for the follow-up summarising N detections folded into the group. */
  folded: number;
}

/** The breaker resumed an identity: the incident opened for (identity, detector) is over. */
export interface Resolution {
  identity: string;
  detector: string;
  /** The resume command that ended the suspension. */
  commandId: string;
  reason: string;
  /** Event time of the resume. */
  issuedAt: number;
}

/** Stable across retries and restarts, so receivers can drop the duplicates at-least-once delivery allows. */
export function alertId(receiver: string, d: Pick<Detection, 'identity' | 'eventId' | 'detector' | 'rule'>): string {
  return createHash('sha256').update([receiver, d.identity, d.eventId, d.detector, d.rule].join('\u0000')).digest('hex');
}

export function resolveId(receiver: string, r: Pick<Resolution, 'commandId' | 'detector'>): string {
  return createHash('sha256').update([receiver, 'resolve', r.commandId, r.detector].join('\u0000')).digest('hex');
}

/**
 * PagerDuty's dedup_key is at most 255 characters
 * (https://developer.pagerduty.com/docs/events-API-v2/trigger-events/) and an
 * identity has no length limit: a hash keeps the key short and the same for a
 * trigger and the resolve that ends it.
 */
export function dedupKey(identity: string, detector: string): string {
  return `warden-${createHash('sha256').update(`${identity}\u0000${detector}`).digest('hex')}`;
}

/** The receiver's status page for an identity: `{identity}` in the URL is replaced, percent-encoded. */
export function statusLink(template: string | undefined, identity: string): string | undefined {
  return template?.replaceAll('{identity}', encodeURIComponent(identity));
}

const PD_SEVERITY: Record<Severity, 'critical' | 'error' | 'warning' | 'info'> = {
  critical: 'critical', high: 'error', medium: 'warning', low: 'info',
};

function headline(a: Alert): string {
  const d = a.detection;
  const what = `${d.decision === 'suspend' ? 'suspended' : 'alert'}: ${d.identity} ${d.detector}/${d.rule}`;
  return a.folded > 0 ? `Warden ${what} (${a.folded} more since the last alert for this identity and detector)` : `Warden ${what}`;
}

/**
 * Slack's documented limits (messages):
 * - chat.postMessage: at most 50 blocks; top-level `text` is truncated after 40,000
 *   characters and should stay under 4,000 (https://docs.slack.dev/reference/methods/chat.postMessage)
 * - section: `text` at most 3,000 characters; at most 10 `fields` of at most 2,000 each
 *   (https://docs.slack.dev/reference/block-kit/blocks/section-block)
 * - header: plain_text at most 150 characters (https://docs.slack.dev/reference/block-kit/blocks/header-block)
 * - context: at most 10 elements; a text object at most 3,000 characters
 *   (https://docs.slack.dev/reference/block-kit/blocks/context-block,
 *   https://docs.slack.dev/reference/block-kit/composition-objects/text-object)
 * A payload over a limit is refused with a 400 and would be dead-lettered, so every text is cut to fit.
 */
export const SLACK_LIMITS = { text: 4000, sectionText: 3000, fieldText: 2000, fields: 10, headerText: 150, contextText: 3000, contextElements: 10, blocks: 50 } as const;

/**
 * `&`, `<` and `>` are Slack's control characters: unescaped, an agent-chosen
 * string could mention `<!channel>` or show a link with any label
 * (https://docs.slack.dev/messaging/formatting-message-text#escaping).
 */
export const slackEscape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Cuts escaped text to `max` UTF-16 units (never more characters than Slack counts), not inside an entity or a surrogate pair. */
export function clip(s: string, max: number): string {
  if (s.length <= max) return s;
  let cut = s.slice(0, max - 1);
  cut = cut.replace(/&[a-z]{0,3}$/, '');
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  return `${cut}…`;
}

const safe = (s: string, max: number): string => clip(slackEscape(s), max);

function slack(a: Alert, id: string, r: AlertReceiver): unknown {
  const d = a.detection;
  const L = SLACK_LIMITS;
  const field = (label: string, value: string) => ({ type: 'mrkdwn', text: clip(`*${label}*\n${slackEscape(value)}`, L.fieldText) });
  const link = statusLink(r.statusUrl, d.identity);
  const context = [{ type: 'mrkdwn', text: safe(`event ${d.eventId} · action ${d.action} · alert ${id.slice(0, 16)}`, L.contextText) }];
  // In a link only `|` and `>` end the URL: percent-encoded by URL, and `&<>` escaped like all text.
  const linkText = link === undefined ? undefined : `<${slackEscape(new URL(link).href.replaceAll('|', '%7C'))}|status page>`;
  if (linkText !== undefined && linkText.length <= L.contextText) context.push({ type: 'mrkdwn', text: linkText });
  return {
    text: safe(`[${d.severity.toUpperCase()}] ${headline(a)}: ${d.reason}`, L.text),
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: safe(headline(a), L.headerText) } },
      {
        type: 'section',
        fields: [
          field('Identity', d.identity), field('Detector', `${d.detector}/${d.rule}`),
          field('Severity', d.severity), field('Decision', `${d.decision} (${d.mode}, scope ${d.scope})`),
        ],
      },
      { type: 'section', text: { type: 'mrkdwn', text: safe(d.reason, L.sectionText) } },
      { type: 'context', elements: context },
    ],
  };
}

/** Events API v2 (https://developer.pagerduty.com/docs/events-API-v2/trigger-events/): summary at most 1024 characters. */
function pagerduty(a: Alert, id: string, r: AlertReceiver): unknown {
  const d = a.detection;
  const link = statusLink(r.statusUrl, d.identity);
  return {
    routing_key: r.routingKey ?? '',
    event_action: 'trigger',
    dedup_key: dedupKey(d.identity, d.detector),
    payload: {
      summary: clip(`${headline(a)}: ${d.reason}`, 1024),
      source: d.identity,
      severity: PD_SEVERITY[d.severity],
      timestamp: new Date(d.ts).toISOString(),
      component: d.detector,
      group: d.agentClass ?? d.identity,
      class: d.rule,
      custom_details: {
        alertId: id, folded: a.folded, identity: d.identity, detector: d.detector, rule: d.rule, decision: d.decision,
        mode: d.mode, scope: d.scope, eventId: d.eventId, action: d.action, resource: d.resource, reason: d.reason, evidence: d.evidence,
      },
    },
    ...(link === undefined ? {} : { links: [{ href: new URL(link).href, text: 'Warden status' }] }),
  };
}

/** The request body for one receiver. */
export function buildPayload(receiver: AlertReceiver, a: Alert): { alertId: string; body: string } {
  const id = alertId(receiver.name, a.detection);
  let payload: unknown;
  if (receiver.format === 'slack') payload = slack(a, id, receiver);
  else if (receiver.format === 'pagerduty') payload = pagerduty(a, id, receiver);
  else payload = { alertId: id, receiver: receiver.name, folded: a.folded, detection: a.detection };
  return { alertId: id, body: JSON.stringify(payload) };
}

/** A PagerDuty resolve for the incident a trigger opened; undefined for formats without incidents. */
export function buildResolve(receiver: AlertReceiver, r: Resolution): { alertId: string; body: string } | undefined {
  if (receiver.format !== 'pagerduty') return undefined;
  const body = { routing_key: receiver.routingKey ?? '', event_action: 'resolve', dedup_key: dedupKey(r.identity, r.detector) };
  return { alertId: resolveId(receiver.name, r), body: JSON.stringify(body) };
}
