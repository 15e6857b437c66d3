/**
 * What Slack and PagerDuty document they accept, as a receiver would enforce it:
 * each function returns the problems with a request body (empty when it would be accepted).
 * Slack: chat.postMessage, section/header/context blocks, text objects (docs.slack.dev/reference/block-kit).
 * PagerDuty: Events API v2 (developer.pagerduty.com/docs/events-API-v2/trigger-events/).
 */

/** Warden's own link to the configured status page is the one `<...>` token a message may hold. */
const OWN_LINK = /^<https?:\/\/[^\s|<>]+\|status page>$/;

function escapingProblems(where: string, text: string, agentStrings: readonly string[]): string[] {
  const out: string[] = [];
  for (const token of text.match(/<[^>]*>?/g) ?? []) if (!OWN_LINK.test(token)) out.push(`${where}: unescaped control sequence ${token.slice(0, 60)}`);
  if (/>/.test(text.replace(/<[^>]*>/g, ''))) out.push(`${where}: unescaped >`);
  if (/&(?!amp;|lt;|gt;)/.test(text)) out.push(`${where}: unescaped &`);
  for (const s of agentStrings) if (/[<>&]/.test(s) && text.includes(s)) out.push(`${where}: agent string carried raw: ${s.slice(0, 60)}`);
  return out;
}

function textOf(o: unknown): string | undefined {
  return typeof o === 'object' && o !== null && typeof (o as { text?: unknown }).text === 'string' ? (o as { text: string }).text : undefined;
}

export function slackProblems(body: Record<string, any>, agentStrings: readonly string[] = []): string[] {
  const out: string[] = [];
  const len = (where: string, s: string | undefined, max: number) => {
    if (s === undefined || s.length === 0) out.push(`${where}: missing text`);
    else if (s.length > max) out.push(`${where}: ${s.length} characters, over ${max}`);
    else out.push(...escapingProblems(where, s, agentStrings));
  };
  len('text', typeof body.text === 'string' ? body.text : undefined, 40_000);
  const blocks: unknown[] = Array.isArray(body.blocks) ? body.blocks : [];
  if (blocks.length > 50) out.push(`blocks: ${blocks.length}, over 50`);
  blocks.forEach((b: any, i) => {
    const at = `blocks[${i}]`;
    if (b.type === 'header') {
      if (b.text?.type !== 'plain_text') out.push(`${at}: header text must be plain_text`);
      len(`${at}.text`, textOf(b.text), 150);
    } else if (b.type === 'section') {
      if (b.text === undefined && b.fields === undefined) out.push(`${at}: section needs text or fields`);
      if (b.text !== undefined) len(`${at}.text`, textOf(b.text), 3000);
      if (b.fields !== undefined) {
        if (!Array.isArray(b.fields) || b.fields.length > 10) out.push(`${at}.fields: more than 10`);
        else b.fields.forEach((f: unknown, j: number) => len(`${at}.fields[${j}]`, textOf(f), 2000));
      }
    } else if (b.type === 'context') {
      if (!Array.isArray(b.elements) || b.elements.length === 0 || b.elements.length > 10) out.push(`${at}.elements: 1 to 10 required`);
      else b.elements.forEach((e: unknown, j: number) => len(`${at}.elements[${j}]`, textOf(e), 3000));
    } else out.push(`${at}: unexpected block type ${String(b.type)}`);
  });
  return out;
}

const PD_ACTIONS = ['trigger', 'acknowledge', 'resolve'];
const PD_SEVERITIES = ['critical', 'error', 'warning', 'info'];

export function pagerdutyProblems(body: Record<string, any>): string[] {
  const out: string[] = [];
  if (typeof body.routing_key !== 'string' || body.routing_key === '') out.push('routing_key: missing');
  if (!PD_ACTIONS.includes(body.event_action)) out.push(`event_action: invalid ${String(body.event_action)}`);
  const key = body.dedup_key;
  if (key !== undefined && (typeof key !== 'string' || key.length > 255)) out.push(`dedup_key: ${typeof key === 'string' ? `${key.length} characters, over 255` : 'not a string'}`);
  if (body.event_action !== 'trigger') {
    if (typeof key !== 'string' || key === '') out.push(`dedup_key: required for ${String(body.event_action)}`);
    return out;
  }
  const p = body.payload;
  if (typeof p !== 'object' || p === null) return [...out, 'payload: missing'];
  if (typeof p.summary !== 'string' || p.summary === '' || p.summary.length > 1024) out.push(`payload.summary: must be 1 to 1024 characters, got ${String(p.summary?.length)}`);
  if (typeof p.source !== 'string' || p.source === '') out.push('payload.source: missing');
  if (!PD_SEVERITIES.includes(p.severity)) out.push(`payload.severity: invalid ${String(p.severity)}`);
  if (p.timestamp !== undefined && Number.isNaN(Date.parse(p.timestamp))) out.push('payload.timestamp: not a date');
  if (body.links !== undefined) {
    if (!Array.isArray(body.links)) out.push('links: not a list');
    else for (const l of body.links) {
      if (typeof l?.href !== 'string' || !URL.canParse(l.href) || new URL(l.href).href !== l.href) out.push(`links.href: not an encoded URL: ${String(l?.href)}`);
    }
  }
  return out;
}
