// `dpkd` as a function: the bin (main.ts) and in-process tests (test/fuzz-graphs.test.ts) run the same code.
export { runDpkd } from './program';
export { CliError, ExitCode } from './cli-error';
export { keyEnvironment, loadGraph } from './registry';
