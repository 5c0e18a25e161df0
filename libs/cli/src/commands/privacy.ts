// `dpkd privacy epsilon|sigma`: the accountants of @dpkd/privacy on the command line. Registration only: the
// actions are in actions/privacy.ts, loaded when one runs.
import type { Command } from 'commander';
import type { EpsilonOptions, SigmaOptions } from '../actions/privacy';

const actions = () => import('../actions/privacy');

export function register(program: Command): void {
  const privacy = program.command('privacy').description('Differential privacy accounting (RDP and PLD accountants)');

  privacy
    .command('epsilon')
    .description('ε of DP-SGD (--q --sigma --steps) or of a DP-event file (--event), at --delta')
    .option('--q <q>', 'Poisson sampling rate in (0, 1] (batch / n)')
    .option('--sigma <sigma>', 'noise multiplier: noise std / L2 clip norm')
    .option('--steps <n>', 'number of steps')
    .option('--event <file>', 'a DP-event JSON file (schemas/dp-event.schema.json) instead of --q/--sigma/--steps')
    .option('--delta <delta>', 'target δ in (0, 1)')
    .option('--accountant <name>', 'pld (tight, default) or rdp')
    .option('--json', 'print one JSON object')
    .action(async (o: EpsilonOptions) => (await actions()).epsilonCommand(o));

  privacy
    .command('sigma')
    .description('the smallest noise multiplier σ whose ε at (q, steps, δ) is ≤ --epsilon (conservative)')
    .option('--q <q>', 'Poisson sampling rate in (0, 1]')
    .option('--steps <n>', 'number of steps')
    .option('--delta <delta>', 'target δ in (0, 1)')
    .option('--epsilon <epsilon>', 'target ε > 0')
    .option('--accountant <name>', 'pld (tight, default) or rdp')
    .option('--json', 'print one JSON object')
    .action(async (o: SigmaOptions) => (await actions()).sigmaCommand(o));
}
