// The page's only script and style, served from /status/static/ so the CSP can forbid every inline one.

export const STYLE = `
:root { --ink: #1d2430; --muted: #667085; --line: #e4e7ec; --bg: #f6f7f9; --card: #fff; --red: #c0362c; --amber: #b54708; --green: #067647; --blue: #1f5fbf; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: var(--bg); }
header { display: flex; align-items: baseline; gap: 16px; padding: 12px 24px; background: #101828; color: #fff; }
header .brand { color: #fff; font-weight: 700; font-size: 17px; text-decoration: none; letter-spacing: .02em; }
header .title { color: #d0d5dd; }
header .who { margin-left: auto; color: #d0d5dd; font-size: 13px; }
main { padding: 16px 24px 32px; max-width: 1280px; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; margin: 0 0 16px; }
h1.identity { font-size: 18px; font-family: ui-monospace, SFMono-Regular, Menlo, monospace; word-break: break-all; margin: 8px 0 2px; }
h2 { font-size: 15px; margin: 0 0 10px; }
h2 .count { display: inline-block; min-width: 22px; padding: 0 7px; border-radius: 11px; background: var(--red); color: #fff; font-size: 12px; text-align: center; }
h2 .sub, .meta, footer, .empty { color: var(--muted); font-weight: normal; font-size: 13px; }
table.rows { width: 100%; border-collapse: collapse; }
table.rows th { text-align: left; font-weight: 600; color: var(--muted); font-size: 12px; border-bottom: 1px solid var(--line); padding: 6px 8px; }
table.rows td { border-bottom: 1px solid var(--line); padding: 7px 8px; vertical-align: top; }
table.rows td.time { white-space: nowrap; font-variant-numeric: tabular-nums; }
table.rows td.id { min-width: 240px; max-width: 380px; }
section { overflow-x: auto; }
a.identity { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; color: var(--blue); text-decoration: none; word-break: break-all; }
a.identity:hover { text-decoration: underline; }
.reason { max-width: 460px; overflow-wrap: anywhere; }
td.reason { min-width: 220px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; background: #eef2f6; color: var(--ink); margin-right: 6px; }
.badge.suspended, .badge.suspend { background: #fee4e2; color: var(--red); }
.badge.ended, .badge.probation, .badge.alert { background: #fef0c7; color: var(--amber); }
.badge.closed, .badge.resumed { background: #dcfae6; color: var(--green); }
.badge.control { background: #e0eaff; color: var(--blue); }
.by.detector { font-weight: 600; } .by .rule { color: var(--muted); font-weight: normal; } .by .kid { color: var(--muted); }
form.control { display: flex; gap: 6px; margin: 0; }
form.control input { padding: 4px 8px; border: 1px solid #d0d5dd; border-radius: 6px; font: inherit; min-width: 0; }
form.control input[name=reason] { width: 150px; }
.actions form.control input[name=reason] { width: 260px; }
.actions form.control input[name=scope] { width: 230px; }
table.rows form.control { justify-content: flex-end; }
button { padding: 4px 12px; border-radius: 6px; border: 1px solid #d0d5dd; background: #fff; font: inherit; font-weight: 600; cursor: pointer; }
button.resume { background: var(--green); border-color: var(--green); color: #fff; }
button.suspend { background: var(--red); border-color: var(--red); color: #fff; }
.actions { display: flex; flex-direction: column; gap: 8px; margin-top: 12px; }
form.lookup { display: flex; gap: 6px; margin: 0 0 12px; }
form.lookup input { flex: 1; max-width: 520px; padding: 5px 8px; border: 1px solid #d0d5dd; border-radius: 6px; font: inherit; }
.notice { padding: 8px 12px; border-radius: 6px; background: #e0eaff; }
.notice.applied { background: #dcfae6; } .notice.ignored, .notice.pending { background: #fef0c7; } .notice.error { background: #fee4e2; }
figure.chart { margin: 0 0 12px; } figcaption { font-size: 13px; color: var(--muted); margin-bottom: 4px; }
svg.chart { width: 100%; max-width: 780px; height: auto; background: #fcfcfd; border: 1px solid var(--line); border-radius: 6px; }
svg .grid { stroke: #eaecf0; } svg .tick { fill: #98a2b3; font-size: 10px; }
svg .band { fill: #b2ccff; opacity: .55; } svg .expected { fill: none; stroke: var(--blue); stroke-width: 2; }
svg .bar { fill: none; stroke: var(--red); stroke-width: 1.5; stroke-dasharray: 5 4; }
svg .unlearned { fill: #f2f4f7; } svg .now { fill: #f79009; stroke: #fff; stroke-width: 1.5; } svg .hourmean { fill: #7a5af8; }
svg .mark { fill: var(--red); stroke: #fff; stroke-width: 1; }
.legend { font-size: 12px; color: var(--muted); } .legend .k { display: inline-block; width: 14px; height: 8px; margin: 0 4px 0 10px; border-radius: 2px; }
.k.expected { background: var(--blue); } .k.band { background: #b2ccff; } .k.bar { border-top: 2px dashed var(--red); height: 0; }
.k.now { background: #f79009; border-radius: 50%; width: 9px; height: 9px; } .k.hourmean { background: #7a5af8; border-radius: 50%; width: 8px; }
.k.mark { background: var(--red); transform: rotate(45deg); width: 8px; } .k.unlearned { background: #f2f4f7; border: 1px solid var(--line); }
ol.timeline { list-style: none; padding: 0; margin: 0; }
ol.timeline li { border-left: 3px solid var(--line); padding: 4px 0 8px 12px; margin-left: 4px; }
ol.timeline li.suspend, ol.timeline li.detection.suspend { border-left-color: var(--red); }
ol.timeline li.resume { border-left-color: var(--green); } ol.timeline li.control { border-left-color: var(--blue); }
ol.timeline time { color: var(--muted); font-size: 12px; margin-right: 8px; font-variant-numeric: tabular-nums; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12.5px; overflow-wrap: anywhere; }
details summary { cursor: pointer; color: var(--blue); font-size: 13px; }
table.evidence { border-collapse: collapse; margin: 4px 0; } table.evidence th { text-align: left; color: var(--muted); font-weight: 600; padding: 1px 10px 1px 0; vertical-align: top; font-size: 12px; }
footer { margin-top: 8px; }
`;

/**
 * Refreshes the page's live part in place every few seconds (faster while a
 * control is pending), unless the operator is typing in a form or reading
 * evidence. The HTML comes from the server, escaped there; no script in it runs.
 */
export const SCRIPT = `
(function () {
  function busy() {
    var a = document.activeElement;
    if (a && (a.tagName === 'INPUT' || a.tagName === 'TEXTAREA')) return true;
    if (document.querySelector('details[open]')) return true;
    var fields = document.querySelectorAll('form input:not([type=hidden])');
    for (var i = 0; i < fields.length; i++) if (fields[i].value !== '') return true;
    return false;
  }
  function next() { setTimeout(refresh, document.querySelector('.notice.pending') ? 1000 : 3000); }
  function refresh() {
    if (busy()) return next();
    fetch(location.href, { headers: { 'x-warden-refresh': '1' }, credentials: 'same-origin' }).then(function (r) {
      return r.ok ? r.text() : null;
    }).then(function (text) {
      if (text === null) return;
      var live = new DOMParser().parseFromString(text, 'text/html').getElementById('live');
      var here = document.getElementById('live');
      if (live && here && !busy()) here.replaceChildren.apply(here, Array.prototype.slice.call(live.childNodes));
    }).catch(function () {}).then(next);
  }
  next();
})();
`;
