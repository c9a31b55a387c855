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

/**
 * The text of a request line's top-level `body` value exactly as the line has it, or undefined when the line is
 * not a JSON object with one (validation has made sure it is).
 * Forwarding these bytes instead of re-serializing the parsed body keeps what the caller wrote: an integer past
 * 2^53 (a `seed`), `1.0`, key order and escapes reach the upstream unchanged, and no serialization is paid per
 * request. As JSON.parse does, the last of duplicate keys wins.
 */
export function rawBody(text: string): string | undefined {
  let i = skipSpace(text, 0);
  if (text.charCodeAt(i) !== OPEN_OBJECT) return undefined;
  i = skipSpace(text, i + 1);
  let body: string | undefined;
  while (text.charCodeAt(i) === QUOTE) {
    const keyEnd = endOfString(text, i);
    if (keyEnd === -1) return undefined;
    const spelled = text.slice(i + 1, keyEnd - 1);
    // A key spelled with escapes (rare) is decoded: `\u0062ody` is `body` too.
    const key = spelled.includes('\\') ? (JSON.parse(`"${spelled}"`) as string) : spelled;
    i = skipSpace(text, keyEnd);
    if (text.charCodeAt(i) !== COLON) return undefined;
    i = skipSpace(text, i + 1);
    const valueEnd = endOfValue(text, i);
    if (valueEnd === -1) return undefined;
    if (key === 'body') body = text.slice(i, valueEnd);
    i = skipSpace(text, valueEnd);
    const c = text.charCodeAt(i);
    if (c === CLOSE_OBJECT) return body;
    if (c !== COMMA) return undefined;
    i = skipSpace(text, i + 1);
  }
  return undefined;
}
