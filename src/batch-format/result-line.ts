import { usageOf, type Usage } from './usage';
import type { UpstreamAnswer } from '../upstream/answer';

/** One output or error file line, ready to append. */
export interface ResultLine {
  text: string;
  /** True for a 2xx answer (output file); false for the error file. */
  ok: boolean;
  usage?: Usage;
}

/** A line for a request that got no HTTP answer (expired, cancelled, unreachable). */
export function errorLine(id: string, customId: string, code: string, message: string): string {
  return `{"id":${JSON.stringify(id)},"custom_id":${JSON.stringify(customId)},"response":null,"error":${JSON.stringify({ code, message })}}\n`;
}

/** The raw body as a JSON value for the line: the upstream's bytes when they are one JSON line, else re-serialized. */
function bodyJson(raw: Buffer): { json: string; parsed: unknown } | undefined {
  const text = raw.toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  // Pretty-printed upstream JSON would break the JSONL framing; only then is it re-serialized.
  const oneLine = raw.indexOf(0x0a) === -1 && raw.indexOf(0x0d) === -1;
  return { json: oneLine ? text.trim() : JSON.stringify(parsed), parsed };
}

/** Builds the output or error line for a request's final upstream answer. */
export function resultLine(
  id: string,
  customId: string,
  result: UpstreamAnswer,
  fallbackRequestId: () => string,
): ResultLine {
  if (result.kind === 'error') return { text: errorLine(id, customId, result.code, result.message), ok: false };
  const ok = result.status >= 200 && result.status < 300;
  const body = bodyJson(result.body);
  if (!body && ok) {
    const message = `The upstream answered ${result.status} with a body that is not valid JSON.`;
    return { text: errorLine(id, customId, 'invalid_upstream_response', message), ok: false };
  }
  const json =
    body?.json ??
    JSON.stringify({
      error: { message: result.body.toString('utf8').slice(0, 2000), type: 'upstream_error', param: null, code: null },
    });
  const requestId = JSON.stringify(result.requestId ?? fallbackRequestId());
  const text = `{"id":${JSON.stringify(id)},"custom_id":${JSON.stringify(customId)},"response":{"status_code":${result.status},"request_id":${requestId},"body":${json}},"error":null}\n`;
  return { text, ok, usage: ok ? usageOf(body!.parsed) : undefined };
}
