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

/** Error classes (by name, so no lib has to import the CLI) whose message tells the user what to fix. */
const userErrorNames = new Set([
  'InvalidNodeInput', // a node's own check, attributed to its JSON pointer (@dpkd/graph)
  'NodeInputError', // the same, not attributed to a node
  'DataError', // @dpkd/data: a corpus or dataset file the user can fix or fetch
  'CorpusUnavailableError',
  'CorpusContentMismatchError',
  'CorpusUnknownError',
  'StoreOpenError', // @dpkd/store: --store / DPKD_STORE is not a usable directory (the message says why)
  'InvalidSetting', // @dpkd/engine: an environment setting such as DPKD_ABORT_GRACE_SECONDS
]);

/**
 * The CliError (exit 2) for an error the user caused, with `file` in front when it names a place in a
 * graph file; undefined for anything else (a bug: main prints it as an internal error).
 */
export function userError(error: unknown, file?: string): CliError | undefined {
  if (error instanceof CliError) return error;
  if (!(error instanceof Error) || !userErrorNames.has(error.name)) return undefined;
  const where = file && error.name === 'InvalidNodeInput' ? `${file}: ` : '';
  return new CliError(`${where}${error.message}`, ExitCode.invalidInput);
}
