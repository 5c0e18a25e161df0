// Verified reads: an object is checked against its digest before an action, a report or an export reads it.
// A missing or corrupt object drops the manifest of the action that produced it, so that action runs again.
import { stat } from 'node:fs/promises';
import { CorruptObjectError, MissingObjectError, type Store, type VerifiedObject } from '@dpkd/store';
import { ObjectUnavailable } from './errors';
import type { ActionManifest } from './manifest';

export interface ObjectRead {
  digest: string;
  /** Who reads it, for the error: `node.port` of an input, or a report's node id. */
  reader: string;
  /** The action whose output it is, when known (an input's upstream key). */
  producerKey?: string;
  /** The fingerprint of an earlier verification of this file (see Store.verifyObject). */
  trusted?: string;
}

/**
 * The object, verified (one streaming hash, skipped when this process or `trusted` already vouches for the
 * unchanged file). Missing or corrupt: drops the producer's manifest and fails with ObjectUnavailable.
 */
export async function verifiedRead(store: Store, read: ObjectRead): Promise<VerifiedObject> {
  try {
    return await store.verifyObject(read.digest, read.trusted !== undefined ? { trusted: read.trusted } : {});
  } catch (error) {
    if (!(error instanceof MissingObjectError) && !(error instanceof CorruptObjectError)) throw error;
    const producer = read.producerKey ? await dropProducer(store, read.producerKey, read.digest) : undefined;
    throw new ObjectUnavailable({
      reader: read.reader,
      digest: read.digest,
      path: error.path,
      problem: error instanceof MissingObjectError ? 'missing' : 'corrupt',
      ...(error instanceof CorruptObjectError ? { actualDigest: error.actualDigest } : {}),
      ...(producer ? { producer } : {}),
    });
  }
}

/** Removes the manifest of `key` if one of its outputs is `digest` (so the action runs again); says what it did. */
export async function dropProducer(
  store: Store,
  key: string,
  digest: string,
): Promise<{ node: string; key: string; port: string; dropped: boolean } | undefined> {
  const manifest = await store.getManifest<ActionManifest>(key).catch(() => undefined);
  const port = manifest && Object.entries(manifest.outputs ?? {}).find(([, o]) => o.digest === digest)?.[0];
  if (!manifest || !port) return undefined;
  const dropped = await store.deleteManifest(key);
  return { node: manifest.provenance?.node ?? '?', key, port, dropped };
}

/** What checkCachedOutputs found: the fingerprints of the hashed outputs, or the first problem. */
export type CachedOutputsCheck = { ok: true; fingerprints: Map<string, string> } | { ok: false; problem: ObjectUnavailable };

/**
 * Checks the outputs of a cached action before a run relies on it: outputs the run will read (`hash`) are
 * verified (the fingerprints are returned so that a worker does not hash them again); the others are only
 * checked to exist with the recorded size (cheap: a deleted or truncated object is noticed, a same-size
 * edit of an object nobody reads is left to `dpkd cache verify`). Returns the first problem, or the
 * fingerprints.
 */
export async function checkCachedOutputs(
  store: Store,
  manifest: ActionManifest,
  options: { hash: boolean; reader: string },
): Promise<CachedOutputsCheck> {
  const fingerprints = new Map<string, string>();
  for (const [port, output] of Object.entries(manifest.outputs ?? {})) {
    if (options.hash) {
      try {
        fingerprints.set(
          output.digest,
          (await verifiedRead(store, { digest: output.digest, reader: `${options.reader}.${port}` })).fingerprint,
        );
      } catch (error) {
        if (error instanceof ObjectUnavailable) return { ok: false, problem: error };
        throw error;
      }
      continue;
    }
    const path = store.objectPath(output.digest);
    const size = (await stat(path).catch(() => undefined))?.size;
    if (size !== output.bytes) {
      return {
        ok: false,
        problem: new ObjectUnavailable({
          reader: `${options.reader}.${port}`,
          digest: output.digest,
          path,
          problem: size === undefined ? 'missing' : 'corrupt',
        }),
      };
    }
  }
  return { ok: true, fingerprints };
}
