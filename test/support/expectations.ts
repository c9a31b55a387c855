import type OpenAI from 'openai';
import type { Batch } from 'openai/resources/batches';
import { readResults } from './batch-helpers';

/** Codes of the error lines written for requests that never ran. */
const NOT_RUN = new Set(['batch_cancelled', 'batch_expired']);

/**
 * What must hold for any batch that ended: every input line is in exactly one of the two files, each custom_id
 * once, and the counts equal the files (completed = output lines, failed = error lines for requests that ran).
 * Returns the parsed lines for further checks.
 */
export async function expectConsistentEnd(client: OpenAI, batch: Batch, ids: string[]) {
  expect(['completed', 'expired', 'cancelled']).toContain(batch.status);
  const output = await readResults(client, batch.output_file_id);
  const errors = await readResults(client, batch.error_file_id);
  expect([...output, ...errors].map((l) => l.custom_id).sort()).toEqual([...ids].sort());
  expect(new Set([...output, ...errors].map((l) => l.id)).size).toBe(ids.length);
  expect(batch.request_counts).toEqual({
    total: ids.length,
    completed: output.length,
    failed: errors.filter((e) => !NOT_RUN.has(e.error?.code ?? '')).length,
  });
  const notRun = errors.filter((e) => NOT_RUN.has(e.error?.code ?? ''));
  if (batch.status === 'completed') expect(notRun).toEqual([]);
  const expected = batch.status === 'expired' ? 'batch_expired' : 'batch_cancelled';
  for (const e of notRun) expect(e.error?.code).toBe(expected);
  return { output, errors };
}
