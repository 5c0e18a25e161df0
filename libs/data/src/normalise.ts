const namedEntities: Record<string, string> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  nbsp: ' ',
  copy: '©',
  reg: '®',
  hellip: '…',
  mdash: '—',
  ndash: '–',
  lsquo: '‘',
  rsquo: '’',
  ldquo: '“',
  rdquo: '”',
  eacute: 'é',
  egrave: 'è',
};

/** Decodes numeric and the common named HTML entities; unknown ones are left as they are. */
export function decodeHtmlEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]{1,6}|#[0-9]{1,7}|[a-z]{2,8});/gi, (whole, body: string) => {
    if (body[0] === '#') {
      const code = body[1] === 'x' || body[1] === 'X' ? parseInt(body.slice(2), 16) : parseInt(body.slice(1), 10);
      return code > 0 && code <= 0x10ffff && !(code >= 0xd800 && code <= 0xdfff) ? String.fromCodePoint(code) : ' ';
    }
    return namedEntities[body.toLowerCase()] ?? whole;
  });
}

/**
 * Turns HTML remnants into plain text: line-break tags become newlines, style/script blocks and
 * comments go, other tags go, entities are decoded. Only tag-shaped `<…>` is removed, so "a < b"
 * and "<3" survive.
 */
export function stripHtml(text: string): string {
  return decodeHtmlEntities(
    text
      .replace(/<(style|script)\b[^]*?<\/\1\s*>/gi, ' ')
      .replace(/<!--[^]*?-->/g, ' ')
      .replace(/<br\s*\/?>|<\/(p|div|li|tr|h[1-6])\s*>/gi, '\n')
      .replace(/<\/?[a-z][a-z0-9]*(\s[^<>]*)?\/?>/gi, ' '),
  );
}

/**
 * The one normal form every corpus goes through: HTML remnants stripped, Unicode NFC, CR/LF and
 * tabs unified, runs of spaces collapsed, lines trimmed, at most one blank line in a row, and no
 * leading or trailing whitespace. Tabs become spaces because a TAB separates control-code values.
 */
export function normaliseText(raw: string): string {
  return stripHtml(raw)
    .normalize('NFC')
    .replace(/\r\n?/g, '\n')
    .replace(/[\t\f\v\u00a0\u2000-\u200b\u202f\u205f\u3000]/g, ' ')
    .replace(/ {2,}/g, ' ')
    .replace(/ ?\n ?/g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}
