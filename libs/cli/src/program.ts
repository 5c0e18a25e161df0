// The `dpkd` command line: the commands' registration and the error-to-exit-code mapping. Kept light on
// purpose: this module and commands/*.ts (names, options, help) are all a start loads; each command's action
// imports its implementation (actions/*.ts, with effect, tfjs, bullmq, hono...) only when it runs, so
// `dpkd --help` or `dpkd privacy` does not pay for the model backend or the queue client.
import { Command, CommanderError } from 'commander';
import { ExitCode, userError } from './cli-error';
import * as dataCommands from './commands/data';
import * as engineCommands from './commands/engine';
import * as graphCommands from './commands/graph';
import * as privacyCommands from './commands/privacy';
import * as queueCommands from './commands/queue';
import * as reportCommands from './commands/report';
import * as showCommands from './commands/show';
import * as uiCommands from './commands/ui';
import * as zooCommands from './commands/zoo';

function program(): Command {
  const p = new Command('dpkd')
    .description('Declarative experiment graphs for differentially private knowledge distillation')
    .showHelpAfterError()
    .exitOverride();
  for (const commands of [
    graphCommands,
    engineCommands,
    showCommands,
    reportCommands,
    privacyCommands,
    dataCommands,
    zooCommands,
    uiCommands,
    queueCommands,
  ])
    commands.register(p);
  return p;
}

/**
 * Runs one `dpkd` command line (`argv` as in process.argv: node, script, args...) and returns its exit
 * code. Output goes to process.stdout / process.stderr. A user-caused failure is one message (file or
 * node, JSON pointer, what to do) and exit 2 (or the code its CliError carries); anything else is a bug,
 * printed with its stack as an internal error, exit 1.
 */
export async function runDpkd(argv: string[]): Promise<number> {
  const before = process.exitCode;
  process.exitCode = undefined;
  let code: number;
  try {
    await program().parseAsync(argv);
    code = Number(process.exitCode ?? ExitCode.ok);
  } catch (error) {
    const user = userError(error);
    if (user) {
      process.stderr.write(`dpkd: ${user.message}\n`);
      code = user.exitCode;
    } else if (error instanceof CommanderError) {
      // commander has already printed its message (unknown option, missing argument, --help).
      code = error.exitCode === 0 ? ExitCode.ok : ExitCode.invalidInput;
    } else {
      process.stderr.write(
        `dpkd: internal error (a bug in dpkd, please report it with this output): ${(error as Error)?.stack ?? String(error)}\n`,
      );
      code = ExitCode.failed;
    }
  } finally {
    process.exitCode = before;
  }
  return code;
}
