/**
 * The paper's training-text format (dp_fine_tune.py with --use_cc): the label values joined by a
 * TAB, a blank line, then the text. The EOS token is appended by the caller after tokenising, as
 * it is a token, not text. With no labels the prefix is empty and the text is returned as is.
 */
export function formatWithControlCode(labels: readonly string[], text: string): string {
  if (labels.length === 0) return text;
  return `${controlCodePrompt(labels)}${text}`;
}

/** The prompt the generation step uses for one control code: the same prefix, without text. */
export function controlCodePrompt(labels: readonly string[]): string {
  for (const label of labels) {
    if (/[\t\n]/.test(label))
      throw new Error(`control-code value ${JSON.stringify(label)} contains a TAB or newline, which the format uses as separators`);
  }
  return `${labels.join('\t')}\n\n`;
}
