/**
 * Errors of this lib. Their messages name files, record numbers and keys' hashes, never document
 * text: corpora are private, and an error message ends up in logs and terminals.
 */
export class DataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataError';
  }
}

/** The corpus's source files are not on this machine; `howToGet` says how to fetch them. */
export class CorpusUnavailableError extends DataError {
  constructor(
    readonly corpus: string,
    readonly howToGet: string,
  ) {
    super(`corpus '${corpus}' is not available on this machine; to get it: ${howToGet}`);
    this.name = 'CorpusUnavailableError';
  }
}

/**
 * JSON.parse whose error never quotes the input: V8's SyntaxError message embeds a snippet of the
 * source text, which for a corpus file is private text.
 */
export function parseJsonQuietly(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    const position = /position (\d+)/.exec(String((error as Error).message))?.[1];
    throw new DataError(`${what} is not valid JSON${position ? ` (near byte ${position})` : ''}; reinstall the package or fix the file`);
  }
}

/**
 * The corpus on this machine is not the pinned one (another package version, an edited cache): its
 * documents would silently differ from everyone else's under the same action keys, so nothing uses them.
 */
export class CorpusContentMismatchError extends DataError {
  constructor(
    readonly corpus: string,
    readonly actual: string,
    readonly pinned: string,
    readonly fix: string,
  ) {
    super(`corpus '${corpus}' has content sha256 ${actual}, but dpkd pins ${pinned}; to get the pinned content: ${fix}`);
    this.name = 'CorpusContentMismatchError';
  }
}
