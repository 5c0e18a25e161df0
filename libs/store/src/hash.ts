import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical-json';

/** Lower-case hex sha256 of bytes or of a string's UTF-8 encoding. */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** sha256 of the canonical JSON of a value: the digest of a cache key or a manifest. */
export function digestOf(value: unknown): string {
  return sha256Hex(canonicalJson(value));
}
