// RFC 9457 problem+json: every ErrorCode mapped to a status and title in one Record, so a new
// code cannot go unmapped. Only app.onError/notFound call toProblemResponse.
import { AppError, UpstreamError, type ErrorCode } from '../errors.ts';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export const PROBLEMS: Readonly<Record<ErrorCode, { status: number; title: string }>> = {
  invalid_request: { status: 400, title: 'The request is malformed' },
  invalid_token: { status: 400, title: 'The token is malformed' },
  unauthorized: { status: 401, title: 'Authentication required' },
  forbidden: { status: 403, title: 'Not allowed' },
  not_found: { status: 404, title: 'Not found' },
  conflict: { status: 409, title: 'Conflict' },
  unsupported_event: { status: 422, title: 'Unknown event type' },
  payload_too_large: { status: 413, title: 'The request body is too large' },
  unsupported_media_type: { status: 415, title: 'The request body must be application/json' },
  attestation_rejected: { status: 401, title: 'Attestation rejected' },
  machine_unknown: { status: 404, title: 'Unknown machine' },
  machine_revoked: { status: 403, title: 'Machine revoked' },
  code_used: { status: 409, title: 'Enrollment code already used' },
  rate_limited: { status: 429, title: 'Too many requests' },
  cluster_busy: { status: 503, title: 'The cluster is busy' },
  misconfigured: { status: 500, title: 'The service is misconfigured' },
  internal: { status: 500, title: 'Internal error' },
  upstream_error: { status: 502, title: 'The cluster API failed' },
  upstream_unavailable: { status: 503, title: 'The cluster API is unavailable' },
};

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  code: ErrorCode;
  detail?: string;
  request_id: string;
  [extension: string]: unknown;
}

export function problemType(code: ErrorCode): string {
  return `urn:k3s-enroll:problem:${code}`;
}

export function buildProblem(err: AppError, requestId: string): ProblemBody {
  const { status, title } = PROBLEMS[err.code];
  const body: ProblemBody = { type: problemType(err.code), title, status, code: err.code, request_id: requestId };
  // Internal errors keep their message server-side; everything else says what went wrong.
  if (err.code !== 'internal' && err.message && err.message !== title) body.detail = err.message;
  for (const [k, v] of Object.entries(err.extensions)) if (!(k in body)) body[k] = v;
  return body;
}

export function toProblemResponse(err: AppError, requestId: string): Response {
  const body = buildProblem(err, requestId);
  const headers = new Headers({ 'content-type': PROBLEM_CONTENT_TYPE, 'cache-control': 'no-store' });
  if (body.status === 401 && err.code === 'unauthorized') headers.set('www-authenticate', 'Bearer realm="k3s-enroll"');
  const retryAfter = err.retryAfterSeconds ?? (err instanceof UpstreamError ? 5 : undefined);
  if (retryAfter !== undefined && (body.status === 429 || body.status === 502 || body.status === 503)) {
    headers.set('retry-after', String(Math.max(1, Math.ceil(retryAfter))));
  }
  return new Response(JSON.stringify(body), { status: body.status, headers });
}
