import { once } from 'node:events';
import { createWriteStream } from 'node:fs';

/** The model every bench request names. */
const MODEL = 'bench-model';

/** The request body of line `i`, with `content` as the user message. */
export const chatBody = (content: string) => ({ model: MODEL, messages: [{ role: 'user', content }] });

/** Line `i` of a chat batch input, without its newline. */
export const chatLine = (i: number, content: string): string =>
  JSON.stringify({ custom_id: `r${i}`, method: 'POST', url: '/v1/chat/completions', body: chatBody(content) });

/** Message content for request `i`, padded with filler so the whole line is about `lineBytes` long. */
export function contentFor(i: number, lineBytes: number): string {
  const head = `Request ${i}: summarise the following text.`;
  const overhead = chatLine(i, head).length + 1;
  const pad = Math.max(0, lineBytes - overhead - 1);
  return pad ? `${head} ${FILLER.repeat(Math.ceil(pad / FILLER.length)).slice(0, pad)}` : head;
}

const FILLER = 'The quick brown fox jumps over the lazy dog while the batch keeps on streaming. ';

/** Writes `count` chat lines of about `lineBytes` each to `path` (newline-terminated); resolves to the byte size. */
export async function writeChatInput(path: string, count: number, lineBytes: number): Promise<number> {
  const out = createWriteStream(path);
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const line = `${chatLine(i, contentFor(i, lineBytes))}\n`;
    bytes += Buffer.byteLength(line);
    if (!out.write(line)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return bytes;
}

/** The JSON request bodies of the same lines, for sending straight to the simulator. */
export function chatBodies(count: number, lineBytes: number): string[] {
  return Array.from({ length: count }, (_, i) => JSON.stringify(chatBody(contentFor(i, lineBytes))));
}
