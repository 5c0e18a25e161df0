#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { CliError, ExitCode } from './cli-error';
import * as dataCommands from './commands/data';
import * as engineCommands from './commands/engine';
import * as graphCommands from './commands/graph';
import * as privacyCommands from './commands/privacy';
import * as reportCommands from './commands/report';

const program = new Command('dpkd')
  .description('Declarative experiment graphs for differentially private knowledge distillation')
  .showHelpAfterError()
  .exitOverride();

for (const commands of [graphCommands, engineCommands, reportCommands, privacyCommands, dataCommands]) commands.register(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CliError) {
    process.stderr.write(`dpkd: ${error.message}\n`);
    process.exitCode = error.exitCode;
  } else if (error instanceof CommanderError) {
    // commander has already printed its message (unknown option, missing argument, --help).
    process.exitCode = error.exitCode === 0 ? ExitCode.ok : ExitCode.invalidInput;
  } else {
    throw error;
  }
}
