/** Exit codes of `dpkd`, one meaning each. */
export const ExitCode = {
  ok: 0,
  /** A run finished with failed nodes, or a check (cache verify, ledger verify) found damage. */
  failed: 1,
  /** Bad input: an invalid graph, flag or number. Nothing ran. */
  invalidInput: 2,
  /** A privacy budget would be exceeded. Nothing ran. */
  budgetExceeded: 3,
  /** Interrupted (Ctrl-C). */
  interrupted: 130,
} as const;

/** An error the user can fix; printed as one line (no stack) and mapped to an exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = ExitCode.invalidInput,
  ) {
    super(message);
    this.name = 'CliError';
  }
}
