import { isUtf8 } from 'node:buffer';

/** The longest `body.model` a line may name: it is stored, put in a search attribute and in metric labels. */
export const MAX_MODEL_LENGTH = 256;
/** The longest `custom_id` a line may have: it is copied into every result line and error message. */
export const MAX_CUSTOM_ID_LENGTH = 512;
/** How much of a line's value an error message quotes. */
const QUOTE_LENGTH = 100;

/** A value from a line as an error message quotes it: at most 100 characters, then `...`. */
export function quote(value: string): string {
  return value.length > QUOTE_LENGTH ? `${value.slice(0, QUOTE_LENGTH)}...` : value;
}

/** Endpoints whose request body must name a model. */
export const MODEL_REQUIRED = new Set(['/v1/responses', '/v1/chat/completions', '/v1/embeddings', '/v1/completions']);

/** One validation finding (docs/api.md, Input and output lines). */
export interface LineError {
  code: string;
  message: string;
  param: string | null;
  line: number | null;
}

/** A request line that passed the per-line checks. */
export interface RequestLine {
  custom_id: string;
  method: string;
  url: string;
  body: Record<string, unknown>;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Decodes and parses a line; returns the object or the invalid_json_line error. */
export function parseLine(bytes: Buffer, line: number): { value: Record<string, unknown> } | { error: LineError } {
  // Invalid UTF-8 is refused rather than decoded to replacement characters.
  if (!isUtf8(bytes)) return invalidJson(line, 'not valid JSON');
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    return invalidJson(line, 'not valid JSON');
  }
  if (!isObject(value)) return invalidJson(line, 'not a JSON object');
  return { value };
}

/** The invalid_json_line error: `Line N is <what>.` */
function invalidJson(line: number, what: string): { error: LineError } {
  return { error: { code: 'invalid_json_line', message: `Line ${line} is ${what}.`, param: null, line } };
}

/** The first problem with one parsed line against the batch's endpoint, or the typed request. */
export function checkLine(
  value: Record<string, unknown>,
  endpoint: string,
  line: number,
): { request: RequestLine } | { error: LineError } {
  const err = (code: string, param: string | null, message: string) => ({ error: { code, param, message, line } });
  if (typeof value.custom_id !== 'string' || value.custom_id === '') {
    return err('missing_required_parameter', 'custom_id', `Line ${line}: 'custom_id' must be a non-empty string.`);
  }
  if (value.custom_id.length > MAX_CUSTOM_ID_LENGTH) {
    const message = `Line ${line}: 'custom_id' has ${value.custom_id.length} characters; at most ${MAX_CUSTOM_ID_LENGTH} are allowed.`;
    return err('custom_id_too_long', 'custom_id', message);
  }
  if (typeof value.method !== 'string') {
    return err('missing_required_parameter', 'method', `Line ${line}: 'method' is required and must be a string.`);
  }
  if (value.method !== 'POST') {
    return err('invalid_method', 'method', `Line ${line}: method '${quote(value.method)}' is not supported; use POST.`);
  }
  if (typeof value.url !== 'string') {
    return err('missing_required_parameter', 'url', `Line ${line}: 'url' is required and must be a string.`);
  }
  if (value.url !== endpoint) {
    return err(
      'invalid_url',
      'url',
      `Line ${line}: url '${quote(value.url)}' does not match the batch endpoint '${endpoint}'.`,
    );
  }
  if (!isObject(value.body)) {
    return err('missing_required_parameter', 'body', `Line ${line}: 'body' is required and must be an object.`);
  }
  if (value.body.stream === true) {
    return err('streaming_unsupported', 'body.stream', `Line ${line}: streaming is not supported in batches.`);
  }
  if (MODEL_REQUIRED.has(endpoint) && typeof value.body.model !== 'string') {
    return err('invalid_request', 'body.model', `Line ${line}: 'body.model' is required for ${endpoint}.`);
  }
  if (typeof value.body.model === 'string' && value.body.model.length > MAX_MODEL_LENGTH) {
    const message = `Line ${line}: 'body.model' has ${value.body.model.length} characters; at most ${MAX_MODEL_LENGTH} are allowed.`;
    return err('model_too_long', 'body.model', message);
  }
  return { request: value as unknown as RequestLine };
}

/** How many embedding inputs a request body carries (a string or a token list is one; a list of them, each). */
export function embeddingInputs(body: Record<string, unknown>): number {
  const input = body.input;
  if (!Array.isArray(input)) return 1;
  if (input.length > 0 && input.every((x) => typeof x === 'number')) return 1;
  return input.length;
}
