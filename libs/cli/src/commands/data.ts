// `dpkd data list|info`: the corpora of @dpkd/data, their availability, sizes and split digests.
// Output holds counts and hashes only, never document text (the corpora are private).
// Loaded at every start (commands/*.ts are the registration, see program.ts): `data info`'s help lists the corpus
// names, and @dpkd/data is light (no effect, tfjs or queue client), so its actions stay here.
import {
  corpusNames,
  CorpusUnavailableError,
  CorpusUnknownError,
  DataError,
  datasetInfo,
  describeCorpus,
  type DatasetInfo,
  type SplitSizes,
} from '@dpkd/data';
import type { Command } from 'commander';
import { CliError, ExitCode } from '../cli-error';

function count(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const x = Number(value);
  if (value.trim() === '' || !Number.isInteger(x) || x < 0) throw new CliError(`${flag} must be a whole number >= 0, got "${value}"`);
  return x;
}

function describeOrFail(name: string) {
  try {
    return describeCorpus(name);
  } catch (error) {
    if (error instanceof CorpusUnknownError) throw new CliError(error.message, ExitCode.invalidInput);
    throw error;
  }
}

function listCorpora(json: boolean): void {
  const rows = corpusNames.map((name) => describeCorpus(name));
  if (json) {
    process.stdout.write(`${JSON.stringify({ corpora: rows })}\n`);
    return;
  }
  const width = Math.max(...rows.map((r) => r.name.length));
  for (const r of rows) {
    const status = r.available ? 'available' : 'missing  ';
    process.stdout.write(`${r.name.padEnd(width)}  ${status}  ${r.privateByDefault ? 'private' : 'public '}  ${r.role}\n`);
    if (!r.available) process.stdout.write(`${' '.repeat(width)}  to get it: ${r.howToGet}\n`);
  }
}

function printInfo(info: DatasetInfo, labelName: string): void {
  const lines = [
    `corpus      ${info.name}`,
    `documents   ${info.documents}`,
    `characters  ${info.characters}`,
    `tokens      ${info.tokens}`,
    `content     sha256 ${info.content.sha256}`,
    `            ${info.content.matches ? 'matches the pinned content' : `DIFFERS from the pinned ${info.content.pinned}: a Dataset refuses it (reinstall the pinned source)`}`,
    `classes (${labelName}):`,
    ...Object.entries(info.classes).map(([label, n]) => `  ${label.padEnd(20)} ${n}`),
    'splits:',
    ...Object.entries(info.splits).map(([split, s]) => `  ${split.padEnd(11)} ${String(s.documents).padStart(7)}  sha256 ${s.sha256}`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function showInfo(name: string, options: { json?: boolean; train?: string; validation?: string; test?: string }): Promise<void> {
  const description = describeOrFail(name);
  if (!description.available)
    throw new CliError(`corpus '${name}' is not available on this machine; to get it: ${description.howToGet}`, ExitCode.invalidInput);
  const sizes: Partial<SplitSizes> = {};
  const train = count('--train', options.train);
  const validation = count('--validation', options.validation);
  const test = count('--test', options.test);
  if (train !== undefined) sizes.train = train;
  if (validation !== undefined) sizes.validation = validation;
  if (test !== undefined) sizes.test = test;
  let info: DatasetInfo;
  try {
    info = await datasetInfo(name, sizes);
  } catch (error) {
    // Library messages name files, record numbers and sizes, never document text.
    if (error instanceof CorpusUnavailableError) throw new CliError(error.message, ExitCode.invalidInput);
    if (error instanceof DataError) throw new CliError(error.message, ExitCode.invalidInput);
    throw error;
  }
  if (options.json) process.stdout.write(`${JSON.stringify(info)}\n`);
  else printInfo(info, description.labelName);
}

export function register(program: Command): void {
  const data = program.command('data').description('Corpora: what is available, sizes, classes and deterministic splits');
  data
    .command('list')
    .description('list the corpora, whether each is available here, and how to get a missing one')
    .option('--json', 'print one JSON object')
    .action((options: { json?: boolean }) => listCorpora(options.json === true));
  data
    .command('info')
    .description(
      'documents, characters, tokens, classes, the content sha256 (and whether it is the pinned one) and the size and sha256 of each split',
    )
    .argument('<name>', `corpus: ${corpusNames.join(', ')}`)
    .option('--json', 'print one JSON object')
    .option('--train <n>', 'cap the train split (default: every document not held out)')
    .option('--validation <n>', 'validation size (default: min(5000, 10 %))')
    .option('--test <n>', 'test size (default: min(5000, 10 %))')
    .action(showInfo);
}
