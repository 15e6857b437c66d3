import { describe, expect, it } from 'vitest';
import { fitTable, printable, shortenMiddle } from '../../src/cli/fit-table.js';

const HEAD = ['identity', 'scope', 'reason'];

describe('fitTable', () => {
  it('leaves a table that fits, or has no limit, as it is', () => {
    const rows = [['spiffe://acme.example/agent/support-bot/0b09', '*', 'a long reason that would not fit in forty columns']];
    for (const cols of [undefined, 200]) {
      const t = fitTable(HEAD, rows, cols);
      expect(t.shortened).toBe(false);
      expect(t.text.split('\n')[1]!.split(/  +/)).toEqual(rows[0]);
    }
  });

  it('keeps every shortened identity distinct, however alike they are', () => {
    // Identities that differ in one character, at the start, the middle or the end.
    const base = 'spiffe://acme.example/tenants/tenant-0001/agent/support-bot/instance-0b09';
    const ids = [...Array(40).keys()].map((i) => {
      const at = Math.floor((i * base.length) / 40);
      return base.slice(0, at) + String.fromCharCode(65 + (i % 26)) + base.slice(at + 1);
    });
    ids.push(base);
    const rows = ids.map((id) => [id, 'email.send', 'scope: email.send is outside the manifest']);
    for (const cols of [60, 80, 100, 120]) {
      const t = fitTable(HEAD, rows, cols);
      expect(t.shortened).toBe(true);
      const shown = t.text.split('\n').slice(1).map((l) => l.split('  ')[0]!.trim());
      expect(new Set(shown).size, `at ${cols} columns`).toBe(ids.length);
      const widest = Math.max(...t.text.split('\n').map((l) => [...l].length));
      // Forty look-alikes need more than the 20 characters an identity gets in 60 columns.
      if (cols >= 100) expect(widest).toBeLessThanOrEqual(cols);
      expect(widest).toBeLessThan(fitTable(HEAD, rows).text.split('\n')[1]!.length);
    }
  });

  it('shortens in the middle, keeping more of the end', () => {
    expect(shortenMiddle('spiffe://acme.example/agent/support-bot/0b09', 22)).toBe('spiffe:…pport-bot/0b09');
    expect([...shortenMiddle('x'.repeat(100), 30)]).toHaveLength(30);
  });

  it('escapes control characters so a cell cannot drive the terminal', () => {
    expect(printable('a\u001b[2Jb\nc\u009bd\u2028')).toBe('a\\u001b[2Jb\\u000ac\\u009bd\\u2028');
    for (const line of fitTable(HEAD, [['\u001b]0;x\u0007', '*', 'r']]).text.split('\n')) expect(line).not.toMatch(/[\u0000-\u001f]/);
  });
});
