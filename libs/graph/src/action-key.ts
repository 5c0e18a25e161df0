// The one recipe for action keys. Keys are input-addressed (Nix-style): the whole DAG is keyed from the
// graph file plus the environment before anything runs, so `plan` knows every cache hit up front.
// Everything that can change an action's output must be in its material, or two machines (or one
// machine before and after an upgrade) would serve different outputs under one key.
import { digestOf } from '@dpkd/store';

/** Bumped when the recipe changes: every key changes with it. */
export const keyFormat = 2;

/**
 * What, besides the graph file, can change an action's output. The CLI fills it (libs/cli/src/registry.ts)
 * because only it may import the model and data libs; the engine and this lib just hash it.
 */
export interface KeyEnvironment {
  /** In every key: e.g. the tokenizer digest, the tfjs version and the backend the workers will use. */
  common: Readonly<Record<string, string>>;
  /**
   * In one node's key: the digests of external content it reads, from its params (a Dataset: the pinned
   * content digest of its corpus). Undefined or {} when the node reads nothing outside the store.
   */
  forNode?(type: string, params: Record<string, unknown>): Readonly<Record<string, string>> | undefined;
}

/** No environment: only for tests of the graph and engine libs (the CLI always passes the real one). */
export const emptyKeyEnvironment: KeyEnvironment = { common: {} };

/** The fields an action key hashes; manifests and the key index record it so a key can be re-derived. */
export interface KeyMaterial {
  keyFormat: number;
  type: string;
  /** The node implementation's version (the `x-dpkd.version` of its schema). */
  version: number;
  /** Interpolated, schema defaults applied, `seed` removed. */
  params: Record<string, unknown>;
  seed: number;
  /** Every input, primary port or not: `<upstream action key>#<output port>`. */
  inputs: Record<string, string>;
  /** KeyEnvironment.common plus the node's own entries. */
  environment: Record<string, string>;
}

/** An input's entry in the material: the upstream action key and the port, always both. */
export const inputRef = (upstreamKey: string, port: string): string => `${upstreamKey}#${port}`;

export function keyMaterial(
  node: { type: string; version: number; params: Record<string, unknown>; seed: number },
  inputs: Record<string, { key: string; port: string }>,
  environment: KeyEnvironment,
): KeyMaterial {
  return {
    keyFormat,
    type: node.type,
    version: node.version,
    params: node.params,
    seed: node.seed,
    inputs: Object.fromEntries(Object.entries(inputs).map(([port, i]) => [port, inputRef(i.key, i.port)])),
    environment: { ...environment.common, ...environment.forNode?.(node.type, node.params) },
  };
}

/** The action key: sha256 of the material's canonical JSON (RFC 8785). */
export const actionKey = (material: KeyMaterial): string => digestOf(material);

/**
 * Re-derives a key from recorded material (a manifest's `keyMaterial`): `cache verify` compares it with
 * the key the manifest is filed under, so a manifest whose material was edited is caught.
 */
export const rehashKeyMaterial = (recorded: unknown): string => digestOf(recorded);
