/**
 * GPT-2's pre-tokenizer pattern, as in openai/gpt-2 encoder.py (there with Python's `regex` module;
 * \p{L} / \p{N} are Unicode letters / numbers). Every character of the input falls into exactly one
 * match, so the pieces concatenate back to the input.
 */
export const GPT2_SPLIT_PATTERN = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

export const preTokenize = (text: string): string[] => text.match(GPT2_SPLIT_PATTERN) ?? [];
