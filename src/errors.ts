// Error types shared by every layer: a closed union of stable public codes, a private reason
// for logs and the audit trail, and UpstreamError for trouble that is not the caller's fault.
// It does not decide HTTP statuses: src/http/problem.ts maps each code exactly once.

export type ErrorCode =
  | 'invalid_request'
  | 'invalid_token'
  | 'not_found'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'unauthorized'
  | 'forbidden'
  | 'conflict'
  | 'unsupported_event'
  | 'misconfigured'
  | 'attestation_rejected'
  | 'machine_unknown'
  | 'machine_revoked'
  | 'code_used'
  | 'rate_limited'
  | 'cluster_busy'
  | 'upstream_unavailable'
  | 'upstream_error'
  | 'internal';

/** A rejection the caller can act on. `message` is safe to show; `reason` stays server-side. */
export class AppError extends Error {
  readonly code: ErrorCode;
  /** Precise cause for logs and audit. Never contains a secret; never sent to the client. */
  readonly reason: string;
  /** Extra fields safe to show the caller (e.g. `variables` for misconfigured). */
  readonly extensions: Readonly<Record<string, unknown>>;
  retryAfterSeconds?: number;

  constructor(
    code: ErrorCode,
    message: string,
    options: { reason?: string; extensions?: Record<string, unknown>; retryAfterSeconds?: number; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.reason = options.reason ?? message;
    this.extensions = Object.freeze({ ...(options.extensions ?? {}) });
    if (options.retryAfterSeconds !== undefined) this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

/** The upstream (cluster API, JWKS, supervisor) failed; `retryable` picks 503 over 502. */
export class UpstreamError extends AppError {
  readonly retryable: boolean;
  readonly upstreamStatus: number | undefined;

  constructor(
    message: string,
    options: { retryable: boolean; upstreamStatus?: number; reason?: string; retryAfterSeconds?: number; cause?: unknown },
  ) {
    super(options.retryable ? 'upstream_unavailable' : 'upstream_error', message, {
      reason: options.reason ?? message,
      retryAfterSeconds: options.retryAfterSeconds ?? (options.retryable ? 5 : 30),
      cause: options.cause,
    });
    this.name = 'UpstreamError';
    this.retryable = options.retryable;
    this.upstreamStatus = options.upstreamStatus;
  }
}

/** Bad or missing configuration. Names the variables, never their values. */
export class ConfigError extends AppError {
  readonly variables: readonly string[];

  constructor(problems: ReadonlyArray<{ variable: string; problem: string }>) {
    const variables = [...new Set(problems.map((p) => p.variable))];
    super('misconfigured', `the service is misconfigured: ${variables.join(', ')}`, {
      reason: problems.map((p) => `${p.variable}: ${p.problem}`).join('; '),
      extensions: { variables },
    });
    this.name = 'ConfigError';
    this.variables = variables;
  }
}
