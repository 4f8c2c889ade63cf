/**
 * The one error the client throws for a refused request or a wait that could not finish: the
 * API's error shape `{error, message, details, request_id}` (docs/api.md#errors) plus the HTTP
 * status, or one of the client's own codes (below) with `status` undefined.
 *
 * Client codes: `UNREACHABLE` (no answer: connection refused, DNS, reset; `cause` holds the
 * fetch error), `WAIT_TIMEOUT` (wait's `timeoutMs` passed; `details.job_id`, `details.status`),
 * `HTTP_ERROR` (an answer that is not the API's error shape, e.g. a proxy's 502 page).
 * An aborted call rejects with its AbortSignal's reason, not with this class.
 */
export class FnqueueError extends Error {
  override readonly name = 'FnqueueError';
  /** The API's error code (`VALIDATION_ERROR`, `JOB_NOT_FOUND`, `TIMEOUT` ...) or a client code. */
  readonly code: string;
  /** The API's `details` object (`{}` when it sent none). */
  readonly details: Record<string, unknown>;
  /** The API's `request_id` (also its X-Request-Id header), for its logs; undefined for client codes. */
  readonly requestId: string | undefined;
  /** The HTTP status; undefined when no answer came. */
  readonly status: number | undefined;

  constructor(fields: { code: string; message: string; details?: Record<string, unknown>; requestId?: string; status?: number }, options?: ErrorOptions) {
    super(fields.message, options);
    this.code = fields.code;
    this.details = fields.details ?? {};
    this.requestId = fields.requestId;
    this.status = fields.status;
  }

  /** The fields as the API's error shape, with the status: what `--json` prints. */
  toJSON(): { error: string; message: string; details: Record<string, unknown>; request_id: string | null; status: number | null } {
    return { error: this.code, message: this.message, details: this.details, request_id: this.requestId ?? null, status: this.status ?? null };
  }
}

/** True for an {@link FnqueueError}, also one from another copy of this package (matched by name and code, not instanceof). */
export function isFnqueueError(err: unknown): err is FnqueueError {
  return err instanceof FnqueueError || (err instanceof Error && err.name === 'FnqueueError' && typeof (err as { code?: unknown }).code === 'string');
}

/**
 * The error for a non-2xx answer: the API's error body when it is one, else `HTTP_ERROR` with the
 * first 200 characters of the body.
 */
export function errorFromResponse(response: Response, body: unknown): FnqueueError {
  const requestId = response.headers.get('x-request-id') ?? undefined;
  if (body && typeof body === 'object' && typeof (body as { error?: unknown }).error === 'string' && typeof (body as { message?: unknown }).message === 'string') {
    const b = body as { error: string; message: string; details?: unknown; request_id?: unknown };
    const details = b.details && typeof b.details === 'object' ? (b.details as Record<string, unknown>) : {};
    return new FnqueueError({ code: b.error, message: b.message, details, requestId: typeof b.request_id === 'string' ? b.request_id : requestId, status: response.status });
  }
  const text = typeof body === 'string' ? body.slice(0, 200) : '';
  return new FnqueueError({ code: 'HTTP_ERROR', message: `HTTP ${response.status} ${response.statusText}${text ? `: ${text}` : ''}`, requestId, status: response.status });
}
