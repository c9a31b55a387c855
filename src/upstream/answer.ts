/**
 * A request's answer, the one type from the socket to the result line: the upstream's HTTP response, or a failure that
 * got none. Every attempt has one; the last attempt's is the request's final answer (with `attempts` set), which the
 * chunk turns into its output or error line. Every field is always set, so each kind keeps one object shape on the
 * hot path.
 */
export type UpstreamAnswer = UpstreamResponse | UpstreamFailure;

/** The upstream answered: its status, its request id, and the body bytes as they came. */
export interface UpstreamResponse {
  kind: 'response';
  status: number;
  requestId: string | null;
  body: Buffer;
  /** The answer's Retry-After, in milliseconds. */
  retryAfterMs: number | undefined;
  /** Attempts made (set on the final answer). */
  attempts: number;
}

/** No answer: a timeout, a reset, a refused connection. `code` and `message` go into the error line. */
export interface UpstreamFailure {
  kind: 'error';
  code: string;
  message: string;
  /** No connection could be made: the upstream is down, and the request never ran. */
  connectFailed: boolean;
  /** Attempts made (set on the final answer). */
  attempts: number;
}
