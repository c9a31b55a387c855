import { usageOf, type Usage } from './usage';
import type { UpstreamAnswer } from '../upstream/answer';

/** One output or error file line, ready to append. */
export interface ResultLine {
  text: string;
  /** True for a 2xx answer (output file); false for the error file. */
  ok: boolean;
  usage?: Usage;
}

/** A line for a request that got no HTTP answer (expired, cancelled, unreachable); `id` is one of ours (url-safe). */
export function errorLine(id: string, customId: string, code: string, message: string): string {
  return `{"id":"${id}","custom_id":${JSON.stringify(customId)},"response":null,"error":${JSON.stringify({ code, message })}}\n`;
}

/** The parsed body, or this when the body is not JSON. */
const NOT_JSON = Symbol('not JSON');

/** Parses an answer's body: the one JSON.parse of it, which both checks it and finds `usage`. */
function parseBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return NOT_JSON;
  }
}

/**
 * Builds the output or error line for a request's final upstream answer. The body goes into the line as the upstream's
 * bytes when they are one JSON line, else re-serialized (pretty-printed JSON would break the JSONL framing). `id` is
 * one of ours (url-safe characters), written without escaping.
 */
export function resultLine(
  id: string,
  customId: string,
  result: UpstreamAnswer,
  fallbackRequestId: () => string,
): ResultLine {
  if (result.kind === 'error') return { text: errorLine(id, customId, result.code, result.message), ok: false };
  const ok = result.status >= 200 && result.status < 300;
  const raw = result.body;
  const text = raw.toString('utf8');
  const parsed = parseBody(text);
  let json: string;
  if (parsed !== NOT_JSON) {
    json = raw.indexOf(0x0a) === -1 && raw.indexOf(0x0d) === -1 ? text.trim() : JSON.stringify(parsed);
  } else if (ok) {
    const message = `The upstream answered ${result.status} with a body that is not valid JSON.`;
    return { text: errorLine(id, customId, 'invalid_upstream_response', message), ok: false };
  } else {
    const error = { message: text.slice(0, 2000), type: 'upstream_error', param: null, code: null };
    json = JSON.stringify({ error });
  }
  const requestId = JSON.stringify(result.requestId ?? fallbackRequestId());
  const line = `{"id":"${id}","custom_id":${JSON.stringify(customId)},"response":{"status_code":${result.status},"request_id":${requestId},"body":${json}},"error":null}\n`;
  return { text: line, ok, usage: ok ? usageOf(parsed) : undefined };
}
