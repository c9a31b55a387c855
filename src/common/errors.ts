/** An error the API answers with the OpenAI envelope. */
export abstract class ApiError extends Error {
  abstract readonly status: number;
  abstract readonly type: string;
  constructor(
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
  }
  /** Whether an SDK may retry this answer (sent as x-should-retry: false when not). */
  get retryable(): boolean {
    return this.status >= 500 || this.status === 429;
  }
}

/** 400: the request is malformed. */
export class InvalidRequestError extends ApiError {
  readonly status = 400;
  readonly type = 'invalid_request_error';
}

/** 404: no such object for this owner. */
export class NotFoundError extends ApiError {
  readonly status = 404;
  readonly type = 'invalid_request_error';
}

/** 409: the object is in a state where this does not apply. */
export class ConflictError extends ApiError {
  readonly status = 409;
  readonly type = 'invalid_request_error';
}

/** 401: missing or unknown API key. */
export class AuthenticationError extends ApiError {
  readonly status = 401;
  readonly type = 'authentication_error';
}

/** 429: too many requests for now; `retryAfterSeconds` is sent as Retry-After. */
export class RateLimitError extends ApiError {
  readonly status = 429;
  readonly type = 'rate_limit_error';
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(message);
  }
}

/** 503: a dependency (storage, Temporal) is down; the SDK may retry. */
export class ServiceUnavailableError extends ApiError {
  readonly status = 503;
  readonly type = 'server_error';
}

/** 507: the blob storage is full. Retrying soon will not help, so the SDK is told not to. */
export class StorageFullError extends ApiError {
  readonly status = 507;
  readonly type = 'server_error';
  override readonly code = 'storage_full';
  override get retryable(): boolean {
    return false;
  }
}
