// `dpkd zoo export <graph> <node> <name>`: publishes a Pretrain node's model as a pinned public checkpoint under
// models/<name>/. Registration only: the action is actions/zoo.ts, loaded when it runs.
import { type Command, Option } from 'commander';
import type { ExportOptions } from '../actions/zoo';

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
    .option('--checkpoint', 'export the latest saved training state of a Pretrain still in progress (the card says which step)')
    .option('--store <dir>', 'store directory (default: $DPKD_STORE or .dpkd/)')
    .addHelpText('after', '\nExample: DPKD_STORE=~/dpkd-store dpkd zoo export graphs/zoo.json teacher zoo-teacher')
    .action(async (graphFile: string, nodeId: string, name: string, opts: ExportOptions) =>
      (await import('../actions/zoo')).zooExportCommand(graphFile, nodeId, name, opts),
    );
}
