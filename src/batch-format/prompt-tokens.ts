/**
 * Characters per token for the estimate. OpenAI's guidance for English text is about four; the estimate only has to
 * be the same for every batch an owner's limit compares, not exact (no tokenizer is run, and none fits every model).
 */
const CHARS_PER_TOKEN = 4;
/** Prompts nest (messages, their content parts); deeper values are not counted. */
const MAX_DEPTH = 6;

/**
 * A request's estimated prompt tokens, as OpenAI's batch queue limit counts them: the characters of its prompt text
 * (`messages[].content`, `prompt`, `input`, `instructions`, text parts inside them) divided by four, rounded up. A
 * token id (embeddings and completions take arrays of them) counts as one token.
 */
export function estimatePromptTokens(body: Record<string, unknown>): number {
  const chars =
    textChars(body.messages, 0) +
    textChars(body.prompt, 0) +
    textChars(body.input, 0) +
    textChars(body.instructions, 0);
  return Math.ceil(chars / CHARS_PER_TOKEN);
}

/** Characters of prompt text in a value: strings, arrays of them, and the `content`/`text` of objects. */
function textChars(value: unknown, depth: number): number {
  if (typeof value === 'string') return value.length;
  if (typeof value === 'number') return CHARS_PER_TOKEN; // a token id
  if (depth >= MAX_DEPTH || value === null || typeof value !== 'object') return 0;
  if (Array.isArray(value)) {
    let sum = 0;
    for (const item of value) sum += textChars(item, depth + 1);
    return sum;
  }
  const o = value as Record<string, unknown>;
  return textChars(o.content, depth + 1) + textChars(o.text, depth + 1);
}
