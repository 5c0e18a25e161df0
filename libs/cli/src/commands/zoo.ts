// `dpkd zoo export <graph> <node> <name>`: publishes a Pretrain node's model from the store as a pinned
// public checkpoint under models/<name>/ (model.safetensors + card.json), for the PublicModel node.
// Refuses a model with any private data or DP mechanism in its lineage: a public model costs no privacy.
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { type ActionManifest, openStore, resolveStoreDir } from '@dpkd/engine';
import { formatDiagnostic } from '@dpkd/graph';
import { decodeSafetensors, encodeSafetensors, parameterCount, type ModelConfig, type StorageDtype } from '@dpkd/lm';
import {
  CARD_FILE,
  DATA_METADATA,
  LINEAGE_METADATA,
  MODEL_FILE,
  type ModelCard,
  modelsDir,
  publicLineageProblems,
  type TrainingData,
} from '@dpkd/nodes';
import { sha256Hex, type Store, writeFileAtomic } from '@dpkd/store';
import { type Command, Option } from 'commander';
import { CliError, ExitCode } from '../cli-error';
import { loadGraph } from '../registry';

const NAME = /^[a-z0-9][a-z0-9._-]*$/;

/** Every Dataset in the model's ancestry (through the manifests' inputs); fails if an ancestor's manifest is gone. */
async function trainingData(store: Store, manifest: ActionManifest): Promise<TrainingData[]> {
  const data: TrainingData[] = [];
  const seen = new Set<string>();
  const queue = Object.values(manifest.inputs).map((i) => i.key);
  while (queue.length > 0) {
    const key = queue.shift()!;
    if (seen.has(key)) continue;
    seen.add(key);
    const upstream = await store.getManifest<ActionManifest>(key);
    if (!upstream)
      throw new CliError(
        `the model's ancestor action ${key.slice(0, 12)} has no manifest in ${store.root} (removed by gc?): its lineage cannot be checked`,
        ExitCode.failed,
      );
    if (upstream.type === 'Dataset') {
      const meta = upstream.outputs.dataset?.meta as { corpus?: string; private?: boolean; sizes?: TrainingData['sizes'] } | undefined;
      data.push({
        corpus: String(meta?.corpus ?? '(unknown)'),
        private: meta?.private !== false,
        datasetKey: key,
        ...(meta?.sizes ? { sizes: meta.sizes } : {}),
      });
    }
    queue.push(...Object.values(upstream.inputs).map((i) => i.key));
  }
  return data;
}

export function register(program: Command): void {
  const zoo = program.command('zoo').description('Public pretrained checkpoints (models/<name>/) for the PublicModel node');
  zoo
    .command('export')
    .description("Write a Pretrain node's model from the store to models/<name>/ with its model card; refuses any private lineage")
    .argument('<graph>', 'the graph file that trained it (e.g. graphs/zoo.json)')
    .argument('<node>', 'the Pretrain node id')
    .argument('<name>', 'the model name: the folder under models/ (lower case, digits, . _ -)')
    .addOption(new Option('--dtype <dtype>', 'stored precision (f16 halves the size)').choices(['f16', 'f32']).default('f16'))
    .option('--models <dir>', 'models directory (default: $DPKD_MODELS or models/ at the workspace root)')
    .option('--force', 'replace an existing models/<name>/')
    .option('--store <dir>', 'store directory (default: $DPKD_STORE or .dpkd/)')
    .addHelpText('after', '\nExample: DPKD_STORE=~/dpkd-store dpkd zoo export graphs/zoo.json teacher zoo-teacher')
    .action(
      async (
        graphFile: string,
        nodeId: string,
        name: string,
        opts: { dtype: 'f16' | 'f32'; models?: string; force?: boolean; store?: string },
      ) => {
        if (!NAME.test(name))
          throw new CliError(`model name '${name}' is not allowed: use lower-case letters, digits, '.', '_' and '-' (e.g. zoo-teacher)`);
        if (!existsSync(graphFile)) throw new CliError(`no graph file ${graphFile}`);
        const loaded = await loadGraph(graphFile);
        if (!loaded.graph) throw new CliError(loaded.diagnostics.map(formatDiagnostic).join('\n'), ExitCode.invalidInput);
        const node = loaded.graph.nodes.find((n) => n.id === nodeId);
        const pretrains = loaded.graph.nodes.filter((n) => n.type === 'Pretrain').map((n) => n.id);
        if (!node || node.type !== 'Pretrain') {
          throw new CliError(
            `${graphFile} has no Pretrain node \`${nodeId}\`${pretrains.length ? `; its Pretrain nodes: ${pretrains.join(', ')}` : ''}`,
          );
        }
        const store = await openStore(resolveStoreDir(opts.store));
        const manifest = await store.getManifest<ActionManifest>(node.key);
        if (!manifest)
          throw new CliError(
            `${nodeId} (key ${node.key.slice(0, 12)}) has not run in ${store.root}: run \`dpkd run ${graphFile}\` first (same store)`,
            ExitCode.failed,
          );
        const data = await trainingData(store, manifest);
        const problems = publicLineageProblems(data, manifest.lineage);
        if (problems.length > 0) throw new CliError(`refusing to publish ${nodeId} as a public model: ${problems.join('; ')}`);

        const target = join(modelsDir(opts.models), name);
        if (existsSync(target) && !opts.force) throw new CliError(`${target} exists: choose another name, or --force to replace it`);
        const source = manifest.outputs.model;
        if (!source) throw new CliError(`${nodeId}'s manifest has no model output`, ExitCode.failed);
        const { tensors, metadata } = decodeSafetensors(new Uint8Array(await readFile(store.objectPath(source.digest))));
        const config = JSON.parse(metadata.config ?? 'null') as ModelConfig;
        const dtype: StorageDtype = opts.dtype === 'f32' ? 'F32' : 'F16';
        const bytes = encodeSafetensors(
          tensors,
          { ...metadata, [LINEAGE_METADATA]: JSON.stringify(manifest.lineage), [DATA_METADATA]: JSON.stringify(data), modelName: name },
          dtype,
        );
        const sha256 = sha256Hex(bytes);
        // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a Pretrain manifest's metrics, written by pretrain.ts
        const m = manifest.metrics as Record<string, any>;
        const p = manifest.provenance;
        const card: ModelCard = {
          cardFormat: 1,
          name,
          file: MODEL_FILE,
          sha256,
          bytes: bytes.byteLength,
          dtype,
          architecture: config,
          parameters: parameterCount(config),
          tokenizer: { name: metadata.tokenizerName ?? 'unknown', fingerprint: metadata.tokenizerFingerprint ?? 'unknown' },
          data,
          lineage: manifest.lineage,
          tokensSeen: Number(m.tokens ?? 0),
          steps: Number(m.steps ?? 0),
          ...(typeof m.validationPerplexity === 'number'
            ? {
                validationPerplexity: m.validationPerplexity,
                validationWindows: m.validationWindows,
                validationHistory: m.validationHistory,
              }
            : {}),
          madeBy: {
            graph: graphFile,
            graphName: loaded.graph.name,
            node: nodeId,
            actionKey: manifest.key,
            params: manifest.params,
            command: `dpkd run ${graphFile}; dpkd zoo export ${graphFile} ${nodeId} ${name} --dtype ${opts.dtype}`,
            dpkdVersion: p.dpkdVersion,
          },
          wallTime: {
            trainSeconds: typeof m.trainSeconds === 'number' ? m.trainSeconds : undefined,
            lastSessionSeconds: p.seconds,
            startedAt: p.startedAt,
          },
          machine: {
            host: p.host,
            backend: typeof p.backend === 'string' ? p.backend : undefined,
            // The exporting machine's CPU: export runs where the store is, normally the training machine.
            cpu: cpus()[0]?.model,
            cores: cpus().length,
            node: process.version,
          },
          exportedAt: new Date().toISOString(),
        };
        await mkdir(target, { recursive: true });
        await writeFileAtomic(join(target, MODEL_FILE), bytes);
        await writeFileAtomic(join(target, CARD_FILE), `${JSON.stringify(card, null, 2)}\n`);
        const ppl = card.validationPerplexity !== undefined ? `, validation perplexity ${card.validationPerplexity.toFixed(2)}` : '';
        process.stdout.write(
          `wrote ${join(target, MODEL_FILE)} (${(bytes.byteLength / 1e6).toFixed(1)} MB, ${dtype}, ${card.parameters} parameters, ${card.tokensSeen} tokens seen${ppl}) and ${CARD_FILE}\n` +
            `use it in a graph as:\n  { "type": "PublicModel", "params": { "name": "${name}", "sha256": "${sha256}" } }\n`,
        );
      },
    );
}
