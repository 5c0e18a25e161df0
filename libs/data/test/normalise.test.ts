import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { decodeHtmlEntities, normaliseText, stripHtml } from '../src';

describe('normaliseText', () => {
  test('turns IMDb line breaks into newlines and collapses spaces', () => {
    expect(normaliseText('A dull film.<br /><br />I left   early. ')).toBe('A dull film.\n\nI left early.');
  });

  test('composes to NFC', () => {
    expect(normaliseText('Cafe\u0301')).toBe('Caf\u00e9');
  });

  test('replaces tabs (the control-code separator) and CRLF', () => {
    expect(normaliseText('a\tb\r\nc\r\rd')).toBe('a b\nc\n\nd');
  });

  test('keeps at most one blank line', () => {
    expect(normaliseText('a\n\n\n\n b')).toBe('a\n\nb');
  });

  test('removes tags and entities but keeps text that only looks like markup', () => {
    expect(stripHtml('<p class="x">Buy <b>now</b> &amp; save &#233; &#x41;</p>')).toBe(' Buy  now  & save é A\n');
    expect(normaliseText('I <3 it; a < b > c; mail <bob@example.org>')).toBe('I <3 it; a < b > c; mail <bob@example.org>');
    expect(normaliseText('<style>p{}</style>text<!-- hidden -->')).toBe('text');
  });

  test('leaves unknown named entities alone', () => {
    expect(decodeHtmlEntities('&bogus; &lt;')).toBe('&bogus; <');
  });

  test('is idempotent, trimmed, and free of tabs and triple newlines', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('a', 'é', 'e\u0301', ' ', '\t', '\n', '\r', '<br/>', '&amp;', '<i>', 'x') }), (raw) => {
        const once = normaliseText(raw);
        expect(normaliseText(once)).toBe(once);
        expect(once).toBe(once.trim());
        expect(once).not.toMatch(/\t|\n{3}| {2}/);
      }),
    );
  });
});
