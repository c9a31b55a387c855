// Token usage as the Batch object reports it, summed from the response bodies.

/** Token usage as the Batch object reports it. */
export interface Usage {
  input_tokens: number;
  input_tokens_details: { cached_tokens: number };
  output_tokens: number;
  output_tokens_details: { reasoning_tokens: number };
  total_tokens: number;
}

/** Zero usage. */
export const emptyUsage = (): Usage => ({
  input_tokens: 0,
  input_tokens_details: { cached_tokens: 0 },
  output_tokens: 0,
  output_tokens_details: { reasoning_tokens: 0 },
  total_tokens: 0,
});

/** Adds `b` into `a`. */
export function addUsage(a: Usage, b: Usage): Usage {
  a.input_tokens += b.input_tokens;
  a.input_tokens_details.cached_tokens += b.input_tokens_details.cached_tokens;
  a.output_tokens += b.output_tokens;
  a.output_tokens_details.reasoning_tokens += b.output_tokens_details.reasoning_tokens;
  a.total_tokens += b.total_tokens;
  return a;
}

/** A token count from an upstream's usage: a finite number of at least 0, else 0 (counters never go down). */
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0);
const obj = (v: unknown): Record<string, unknown> =>
  typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {};

/** Reads usage from a response body: chat/completions/embeddings name tokens prompt/completion, responses input/output. */
export function usageOf(body: unknown): Usage {
  const u = obj(obj(body).usage);
  const usage = emptyUsage();
  usage.input_tokens = num(u.input_tokens ?? u.prompt_tokens);
  usage.output_tokens = num(u.output_tokens ?? u.completion_tokens);
  usage.input_tokens_details.cached_tokens = num(obj(u.input_tokens_details ?? u.prompt_tokens_details).cached_tokens);
  usage.output_tokens_details.reasoning_tokens = num(
    obj(u.output_tokens_details ?? u.completion_tokens_details).reasoning_tokens,
  );
  usage.total_tokens = num(u.total_tokens) || usage.input_tokens + usage.output_tokens;
  return usage;
}
