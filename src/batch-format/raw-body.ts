const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

const isSpace = (c: number): boolean => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;

function skipSpace(text: string, i: number): number {
  while (i < text.length && isSpace(text.charCodeAt(i))) i++;
  return i;
}

/** The index just past the string that opens at `i` (a quote), or -1. */
function endOfString(text: string, i: number): number {
  let from = i + 1;
  for (;;) {
    const q = text.indexOf('"', from);
    if (q === -1) return -1;
    let backslashes = 0;
    while (text.charCodeAt(q - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return q + 1;
    from = q + 1;
  }
}

/** The index just past the JSON value that starts at `i`, or -1. */
function endOfValue(text: string, i: number): number {
  const c = text.charCodeAt(i);
  if (c === QUOTE) return endOfString(text, i);
  if (c !== OPEN_OBJECT && c !== OPEN_ARRAY) {
    // A number or a literal runs to the next delimiter.
    let j = i;
    while (j < text.length) {
      const d = text.charCodeAt(j);
      if (d === COMMA || d === CLOSE_OBJECT || d === CLOSE_ARRAY || isSpace(d)) break;
      j++;
    }
    return j > i ? j : -1;
  }
  let depth = 0;
  for (let j = i; j < text.length; j++) {
    const d = text.charCodeAt(j);
    if (d === QUOTE) {
      j = endOfString(text, j) - 1;
      if (j < 0) return -1;
    } else if (d === OPEN_OBJECT || d === OPEN_ARRAY) {
      depth++;
    } else if ((d === CLOSE_OBJECT || d === CLOSE_ARRAY) && --depth === 0) {
      return j + 1;
    }
  }
  return -1;
}

/** Whether the string text between `from` and `to` has an escape (a backslash) to decode. */
function hasEscape(text: string, from: number, to: number): boolean {
  for (let j = from; j < to; j++) if (text.charCodeAt(j) === BACKSLASH) return true;
  return false;
}

/**
 * Where a key spelled in `text` between `from` and `to` (without its quotes) is among `keys`, or -1. A key spelled with
 * escapes (rare) is decoded: `\u0062ody` is `body` too.
 */
function keyIndex(text: string, from: number, to: number, keys: readonly string[]): number {
  if (hasEscape(text, from, to)) return keys.indexOf(JSON.parse(`"${text.slice(from, to)}"`) as string);
  const length = to - from;
  for (let k = 0; k < keys.length; k++) if (keys[k].length === length && text.startsWith(keys[k], from)) return k;
  return -1;
}

/**
 * The texts of a JSON object's top-level values for `keys`, exactly as written (undefined for a key it lacks), or
 * undefined when `text` is not an object. As JSON.parse does, the last of duplicate keys wins. It finds where values
 * end without building them, so it does not check what it skips: it reads text that validation has parsed.
 */
export function memberTexts(text: string, keys: readonly string[]): (string | undefined)[] | undefined {
  const values: (string | undefined)[] = keys.map(() => undefined);
  let i = skipSpace(text, 0);
  if (text.charCodeAt(i) !== OPEN_OBJECT) return undefined;
  i = skipSpace(text, i + 1);
  if (text.charCodeAt(i) === CLOSE_OBJECT) return values;
  while (text.charCodeAt(i) === QUOTE) {
    const keyEnd = endOfString(text, i);
    if (keyEnd === -1) return undefined;
    const k = keyIndex(text, i + 1, keyEnd - 1, keys);
    i = skipSpace(text, keyEnd);
    if (text.charCodeAt(i) !== COLON) return undefined;
    i = skipSpace(text, i + 1);
    const valueEnd = endOfValue(text, i);
    if (valueEnd === -1) return undefined;
    if (k !== -1) values[k] = text.slice(i, valueEnd);
    i = skipSpace(text, valueEnd);
    const c = text.charCodeAt(i);
    if (c === CLOSE_OBJECT) return values;
    if (c !== COMMA) return undefined;
    i = skipSpace(text, i + 1);
  }
  return undefined;
}

const BODY = ['body'] as const;

/**
 * The text of a request line's top-level `body` value exactly as the line has it, or undefined when the line is
 * not a JSON object with one (validation has made sure it is).
 * Forwarding these bytes instead of re-serializing the parsed body keeps what the caller wrote: an integer past
 * 2^53 (a `seed`), `1.0`, key order and escapes reach the upstream unchanged, and no serialization is paid per
 * request. As JSON.parse does, the last of duplicate keys wins.
 */
export function rawBody(text: string): string | undefined {
  const [body] = memberTexts(text, BODY) ?? [];
  return body;
}

/** A JSON string value's text as a string (escapes decoded), or undefined for any other value. */
function stringOf(value: string | undefined): string | undefined {
  if (value === undefined || value.charCodeAt(0) !== QUOTE) return undefined;
  return hasEscape(value, 1, value.length - 1) ? (JSON.parse(value) as string) : value.slice(1, -1);
}

/** What sending a request needs from its line. */
export interface RawRequest {
  customId: string;
  url: string;
  /** The `body` value as the line has it (see {@link rawBody}). */
  body: string;
  /** `body.model` when it is a string. */
  model: string | null;
}

const REQUEST_KEYS = ['custom_id', 'url', 'body'] as const;
const MODEL = ['model'] as const;

/**
 * The fields a request is sent by, read from a validated line without parsing it: a parse builds the whole body (the
 * messages and every string in them) only for these four. Undefined when the line does not have them as validation
 * requires (the caller then parses it).
 */
export function rawRequest(text: string): RawRequest | undefined {
  const top = memberTexts(text, REQUEST_KEYS);
  if (!top) return undefined;
  const customId = stringOf(top[0]);
  const url = stringOf(top[1]);
  const body = top[2];
  if (customId === undefined || url === undefined || body === undefined) return undefined;
  const inner = memberTexts(body, MODEL);
  if (!inner) return undefined;
  return { customId, url, body, model: stringOf(inner[0]) ?? null };
}
