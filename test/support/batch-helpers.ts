import type OpenAI from 'openai';
import { toFile } from 'openai';
import type { Batch } from 'openai/resources/batches';

/** A chat request line. */
export const chatLine = (id: string, extra: Record<string, unknown> = {}, model = 'gpt-test') => ({
  custom_id: id,
  method: 'POST',
  url: '/v1/chat/completions',
  body: { model, messages: [{ role: 'user', content: `hello ${id}` }], ...extra },
});

/** Uploads lines (objects are JSON-encoded, strings written as they are) as a batch input file. */
export async function uploadLines(client: OpenAI, lines: (object | string)[], name = 'input.jsonl'): Promise<string> {
  const text = lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n';
  return (await client.files.create({ file: await toFile(Buffer.from(text), name), purpose: 'batch' })).id;
}

/** Polls until the batch reaches one of `statuses` (fails on timeout with the last state). */
export async function waitForStatus(
  client: OpenAI,
  id: string,
  statuses: string[],
  timeoutMs = 60000,
  onPoll?: (b: Batch) => void,
): Promise<Batch> {
  const deadline = Date.now() + timeoutMs;
  let batch = await client.batches.retrieve(id);
  while (!statuses.includes(batch.status)) {
    if (Date.now() > deadline) throw new Error(`batch ${id} stuck in ${batch.status}: ${JSON.stringify(batch)}`);
    await new Promise((r) => setTimeout(r, 150));
    batch = await client.batches.retrieve(id);
    onPoll?.(batch);
  }
  return batch;
}

/** One line of an output or error file. */
export interface ResultLine {
  id: string;
  custom_id: string;
  response: { status_code: number; request_id: string; body: Record<string, unknown> } | null;
  error: { code: string; message: string } | null;
}

/** Downloads a result file and parses its lines ([] for a null id). */
export async function readResults(client: OpenAI, fileId: string | null | undefined): Promise<ResultLine[]> {
  if (!fileId) return [];
  const text = await (await client.files.content(fileId)).text();
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as ResultLine);
}

/** Creates a chat batch of `count` lines `${prefix}-${i}`; `counted` keys each at the simulator by its custom_id. */
export async function createChatBatch(client: OpenAI, prefix: string, count: number, { counted = false } = {}) {
  const ids = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
  const batch = await client.batches.create({
    input_file_id: await uploadLines(
      client,
      ids.map((id) => (counted ? chatLine(id, { x_sim: { key: id } }) : chatLine(id))),
    ),
    endpoint: '/v1/chat/completions',
    completion_window: '24h',
  });
  return { ids, batch };
}
