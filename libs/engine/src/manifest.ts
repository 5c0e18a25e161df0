import type { PrivacyClaim } from '@dpkd/graph';
import type { KeyMaterial } from './key-material';
import type { Lineage } from './privacy-plan';
import rootPackage from '../../../package.json' with { type: 'json' };

/** An input or output of an action, by content. */
export interface ArtifactRef {
  digest: string;
  kind: string;
  bytes: number;
  meta?: unknown;
}

/**
 * What `actions/<key>.json` holds. It is written last (after the ledger charge, the run and the outputs),
 * so its existence is the proof that the action happened.
 */
export interface ActionManifest {
  manifestFormat: 1;
  key: string;
  type: string;
  version: number;
  params: Record<string, unknown>;
  seed: number;
  inputs: Record<string, { key: string; port: string; digest: string }>;
  outputs: Record<string, ArtifactRef>;
  metrics: Record<string, unknown>;
  /** The claims actually executed (the ledger holds one entry per claim with an event). */
  privacy: PrivacyClaim[];
  lineage: Lineage;
  keyMaterial: KeyMaterial;
  provenance: {
    dpkdVersion: string;
    host: string;
    pid: number;
    node: string;
    graph: string;
    run: string;
    startedAt: string;
    seconds: number;
    attempt: number;
    executor: 'in-process' | 'worker';
    [extra: string]: unknown;
  };
  logDigest?: string;
  /** The privacy-ledger entries that charged this action (written before it ran): its completion record. */
  charges?: Array<{ seq: number; hash: string }>;
}

/** The version of dpkd that wrote a manifest: the workspace root's package.json, inlined by the bundler. */
export const DPKD_VERSION: string = rootPackage.version;
