/**
 * HTML built so that every interpolated value is escaped unless it is itself
 * `Html`: agent-controlled strings (identities, reasons, evidence, resources)
 * cannot open a tag, end an attribute or start a script, in HTML or inline SVG.
 * Attribute values must always be quoted in the templates.
 */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

/** Text and quoted-attribute safe: & < > " ' ` become entities. Control characters other than tab and newline become U+FFFD. */
export function escapeHtml(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[&<>"'`]/g, (c) => ENTITIES[c]!).replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, '\ufffd');
}

type Value = Html | string | number | boolean | null | undefined | readonly Value[];

function render(v: Value): string {
  if (v === null || v === undefined || v === false) return '';
  if (v instanceof Html) return v.text;
  if (Array.isArray(v)) return (v as readonly Value[]).map(render).join('');
  return escapeHtml(String(v));
}

export function html(strings: TemplateStringsArray, ...values: Value[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]!) + strings[i + 1]!;
  return new Html(out);
}

/** A trusted constant (markup written here, never input). */
export const raw = (s: string): Html => new Html(s);

/** A status-page link with query parameters, each URI-encoded (the template escapes the whole for the attribute). */
export function href(path: string, query: Record<string, string | undefined> = {}): string {
  const q = Object.entries(query).filter(([, v]) => v !== undefined).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v!)}`);
  return q.length > 0 ? `${path}?${q.join('&')}` : path;
}
