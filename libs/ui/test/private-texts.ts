// The private documents the tiny graph read: every split of its private Dataset artifact, from the store.
// Tests look for pieces of them in what the dashboard serves.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface DatasetObject {
  format: string;
  private: boolean;
  splits: Record<string, Array<{ text: string }>>;
}

/** Distinctive 32-character pieces (start, middle, end) of every private document in the store. */
export function privateTexts(store: string): string[] {
  const pieces: string[] = [];
  for (const name of readdirSync(join(store, 'actions')).filter((n) => n.endsWith('.json'))) {
    const manifest = JSON.parse(readFileSync(join(store, 'actions', name), 'utf8')) as {
      type: string;
      outputs: Record<string, { digest: string; kind: string }>;
    };
    const dataset = manifest.type === 'Dataset' ? manifest.outputs.dataset : undefined;
    if (!dataset) continue;
    const object = JSON.parse(
      readFileSync(join(store, 'objects', dataset.digest.slice(0, 2), dataset.digest.slice(2)), 'utf8'),
    ) as DatasetObject;
    if (!object.private) continue;
    for (const doc of Object.values(object.splits).flat()) {
      const text = doc.text.trim();
      if (text.length < 40) continue;
      const mid = Math.floor(text.length / 2);
      pieces.push(text.slice(0, 32), text.slice(mid, mid + 32), text.slice(-32));
    }
  }
  return pieces;
}

const htmlEscaped = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Whether `body` holds `secret` as is, JSON-escaped or HTML-escaped (how a page or an API answer would carry it). */
export function leaks(body: string, secret: string): boolean {
  return [secret, JSON.stringify(secret).slice(1, -1), htmlEscaped(secret), htmlEscaped(secret).replace(/'/g, '&#39;')].some((form) =>
    body.includes(form),
  );
}
