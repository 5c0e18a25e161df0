// Which node types `dpkd` can plan and run (the real ones from libs/nodes and, behind a test hook, the
// engine's test-only types), and the key environment: what every action key covers beyond the graph file.
// The CLI is the one layer that may import the model, tokenizer and data libs, so it computes the
// environment here and hands it to @dpkd/graph, which hashes it (action-key.ts) without knowing what it is.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { corpusPins } from '@dpkd/data';
import { makeRegistry, testNodes, testSignatures, type NodeRegistryApi, type RegisteredNode } from '@dpkd/engine';
import { defaultSignatures, loadGraphFile, type KeyEnvironment, type LoadResult, type Signature } from '@dpkd/graph';
import { initBackend, loadedBackendPackage, MODEL_PRESETS, type ModelConfig, tf } from '@dpkd/lm';
import { CARD_FILE, type ModelCard, modelConfigOf, modelsDir, nodeImplementations } from '@dpkd/nodes';
import { createTokenizer } from '@dpkd/tokenizer';
import { CliError, ExitCode } from './cli-error';

/**
 * Test hook: with DPKD_TEST_NODES=1 the test-only node types (Sleep, Fail, Count, FakeDataset, EmitDpEvent,
 * Peek, EvalHeldOut, Post) are registered, so process-level tests can drive the real `dpkd run`.
 */
const testHook = () => process.env.DPKD_TEST_NODES === '1';

/** Signatures beyond the schema-defined ones (only the test types, behind the hook). */
export const extraSignatures = (): Signature[] => (testHook() ? testSignatures : []);

export function nodeRegistry(): NodeRegistryApi {
  const signatures = defaultSignatures();
  const real: RegisteredNode[] = nodeImplementations.map((implementation) => ({
    implementation,
    outputs: Object.fromEntries(
      Object.entries(signatures.get(implementation.type)?.outputs ?? {}).map(([port, spec]) => [port, spec.kind]),
    ),
  }));
  return makeRegistry([...real, ...(testHook() ? testNodes : [])]);
}

const require = createRequire(import.meta.url);
const versionOf = (pkg: string): string | undefined => {
  try {
    return (require(`${pkg}/package.json`) as { version?: string }).version;
  } catch {
    return undefined;
  }
};

/**
 * `<name>@<version>` of the backend the nodes of this process (and the workers it spawns, which inherit
 * its environment and node_modules) run on. It initialises the backend exactly as the nodes do
 * (initBackend: DPKD_BACKEND, else the first that loads), about 0.1 s once per process. The version is the loaded
 * package's; tfjs-node-gpu is named `tensorflow-gpu`, since it shares the backend name `tensorflow` with tfjs-node
 * but not its numerics.
 */
async function backendId(): Promise<string> {
  let name: string;
  try {
    name = await initBackend();
  } catch (error) {
    throw new CliError(`${(error as Error).message}`, ExitCode.invalidInput);
  }
  const pkg = loadedBackendPackage();
  return backendLabel(name, pkg, (pkg && versionOf(pkg)) || tf.version.tfjs);
}

/** The key's backend entry: `<backend>@<version of the package that loaded it>`, tfjs-node-gpu as `tensorflow-gpu`. */
export const backendLabel = (name: string, pkg: string | undefined, version: string): string =>
  `${pkg === '@tensorflow/tfjs-node-gpu' ? 'tensorflow-gpu' : name}@${version}`;

let environment: Promise<KeyEnvironment> | undefined;

/**
 * What every action key covers beyond the graph: the tokenizer digest (createTokenizer(), the nodes'
 * one tokenizer), the tfjs version and the backend with its version; per node, the digests of the
 * external content it reads (NodeImplementation.externalContent: a Dataset's pinned corpus digest).
 */
export function keyEnvironment(): Promise<KeyEnvironment> {
  environment ??= (async (): Promise<KeyEnvironment> => {
    const registry = nodeRegistry();
    return {
      common: { tokenizer: createTokenizer().fingerprint, tfjs: tf.version.tfjs, backend: await backendId() },
      forNode: (type, params) => registry.get(type)?.externalContent?.(params),
    };
  })();
  environment.catch(() => (environment = undefined));
  return environment;
}

/** The shape of a `model` param (a preset or a config), for `plan`'s cost estimate; undefined when it is not one. */
export const modelShape = (model: unknown): ModelConfig | undefined => {
  try {
    return modelConfigOf(model as Parameters<typeof modelConfigOf>[0]).config;
  } catch {
    return undefined;
  }
};

/** The architecture a pinned public checkpoint's card records (models/<name>/card.json), for the estimate. */
export const publicModelShape = (name: string): ModelConfig | undefined => {
  try {
    return (JSON.parse(readFileSync(join(modelsDir(), name, CARD_FILE), 'utf8')) as ModelCard).architecture;
  } catch {
    return undefined;
  }
};

/** The context length of a model preset of libs/lm (validate checks every seqLen against it). */
const presetContext = (preset: string): number | undefined =>
  Object.hasOwn(MODEL_PRESETS, preset) ? MODEL_PRESETS[preset as keyof typeof MODEL_PRESETS].ctx : undefined;

/** A corpus's pinned document count: N of its privacy unit (validate checks a budget's δ < 1/N with it). */
const corpusSize = (corpus: string): number | undefined =>
  Object.hasOwn(corpusPins, corpus) ? corpusPins[corpus as keyof typeof corpusPins].documents : undefined;

/** Reads, validates and keys a graph file exactly as every command does (one recipe, one environment). */
export async function loadGraph(file: string): Promise<LoadResult> {
  return loadGraphFile(file, { extraSignatures: extraSignatures(), keyEnvironment: await keyEnvironment(), presetContext, corpusSize });
}
