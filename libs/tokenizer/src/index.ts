export { createTokenizer, DEFAULT_MERGES } from './tokenizer';
export type { Tokenizer, TokenizerOptions } from './tokenizer';
export { GPT2_SPLIT_PATTERN, preTokenize } from './pretokenize';
export { GPT2_MERGE_COUNT, GPT2_SOURCE } from './gpt2-files';
