// @ts-check
// metav1.Status bodies with the exact field order and wording of k8s.io/apimachinery errors.go.
// Only builds plain objects; serialising and writing them is the server's job (see json.mjs).

/**
 * @typedef {{ reason?: string, message?: string, field?: string }} StatusCause
 * @typedef {{ name?: string, group?: string, kind?: string, uid?: string, causes?: StatusCause[], retryAfterSeconds?: number }} StatusDetails
 * @typedef {{ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure' | 'Success', message?: string, reason?: string, details?: StatusDetails, code?: number }} Status
 * @typedef {{ group: string, resource: string }} GroupResource
 */

/**
 * Go marshals struct fields in declaration order and drops empty `omitempty` fields; building the
 * object in that order keeps `JSON.stringify` byte-identical to the API server.
 * @param {{ status?: 'Failure' | 'Success', message?: string, reason?: string, details?: StatusDetails, code?: number }} s
 * @returns {Status}
 */
export function buildStatus({ status = 'Failure', message, reason, details, code }) {
  /** @type {any} */
  const out = { kind: 'Status', apiVersion: 'v1', metadata: {}, status };
  if (message) out.message = message;
  if (reason) out.reason = reason;
  if (details) out.details = buildDetails(details);
  if (code) out.code = code;
  return out;
}

/** @param {StatusDetails} d */
function buildDetails(d) {
  /** @type {any} */
  const out = {};
  if (d.name) out.name = d.name;
  if (d.group) out.group = d.group;
  if (d.kind) out.kind = d.kind;
  if (d.uid) out.uid = d.uid;
  if (d.causes && d.causes.length > 0) {
    out.causes = d.causes.map((c) => {
      /** @type {any} */
      const cause = {};
      if (c.reason) cause.reason = c.reason;
      if (c.message) cause.message = c.message;
      if (c.field) cause.field = c.field;
      return cause;
    });
  }
  if (d.retryAfterSeconds) out.retryAfterSeconds = d.retryAfterSeconds;
  return out;
}

/** GroupResource.String(): the core group renders as the bare resource. @param {GroupResource} gr */
export function qualifiedName(gr) {
  return gr.group ? `${gr.resource}.${gr.group}` : gr.resource;
}

/** Go's %q for the ASCII-ish strings the API puts in messages. @param {string} s */
export function goQuote(s) {
  let out = '"';
  for (const ch of s) {
    const cp = /** @type {number} */ (ch.codePointAt(0));
    if (ch === '"' || ch === '\\') out += '\\' + ch;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (cp < 0x20 || cp === 0x7f) out += '\\x' + cp.toString(16).padStart(2, '0');
    else out += ch;
  }
  return out + '"';
}

export const UNAUTHORIZED = buildStatus({ message: 'Unauthorized', reason: 'Unauthorized', code: 401 });

/** @param {GroupResource} gr @param {string} name */
export function notFound(gr, name) {
  return buildStatus({
    message: `${qualifiedName(gr)} ${goQuote(name)} not found`,
    reason: 'NotFound',
    details: { name, group: gr.group, kind: gr.resource },
    code: 404,
  });
}

/** @param {GroupResource} gr @param {string} name */
export function alreadyExists(gr, name) {
  return buildStatus({
    message: `${qualifiedName(gr)} ${goQuote(name)} already exists`,
    reason: 'AlreadyExists',
    details: { name, group: gr.group, kind: gr.resource },
    code: 409,
  });
}

/** errors.NewConflict; callers pass a Kind-as-resource where upstream does (BeforeDelete). @param {GroupResource} gr @param {string} name @param {string} err */
export function conflict(gr, name, err) {
  return buildStatus({
    message: `Operation cannot be fulfilled on ${qualifiedName(gr)} ${goQuote(name)}: ${err}`,
    reason: 'Conflict',
    details: { name, group: gr.group, kind: gr.resource },
    code: 409,
  });
}

/** @param {string} message */
export function badRequest(message) {
  return buildStatus({ message, reason: 'BadRequest', code: 400 });
}

/** errors.NewInternalError. @param {string} err */
export function internalError(err) {
  return buildStatus({
    message: `Internal error occurred: ${err}`,
    reason: 'InternalError',
    details: { causes: [{ message: err }] },
    code: 500,
  });
}

/** ErrorToAPIStatus for a plain Go error: 500, no reason (StatusReasonUnknown is ""). @param {string} err */
export function unknownError(err) {
  return buildStatus({ message: err, code: 500 });
}

/**
 * errors.NewForbidden as responsewriters.Forbidden calls it: the resource (not the Kind) and the
 * name known at authorization time, so create/list carry no name.
 * @param {GroupResource} gr @param {string} name @param {string} err
 */
export function forbidden(gr, name, err) {
  let message;
  if (!gr.group && !gr.resource) message = `forbidden: ${err}`;
  else if (!name) message = `${qualifiedName(gr)} is forbidden: ${err}`;
  else message = `${qualifiedName(gr)} ${goQuote(name)} is forbidden: ${err}`;
  return buildStatus({ message, reason: 'Forbidden', details: { name, group: gr.group, kind: gr.resource }, code: 403 });
}

/**
 * @typedef {{ type: 'FieldValueInvalid' | 'FieldValueRequired' | 'FieldValueTooLong' | 'FieldValueForbidden', field: string, value?: string, detail: string }} FieldError
 */

/** field.Error.ErrorBody(): TooLong and Required never print the value. @param {FieldError} e */
export function fieldErrorBody(e) {
  const label = { FieldValueInvalid: 'Invalid value', FieldValueRequired: 'Required value', FieldValueTooLong: 'Too long', FieldValueForbidden: 'Forbidden' }[e.type];
  let s = e.type === 'FieldValueInvalid' ? `${label}: ${goQuote(e.value ?? '')}` : label;
  if (e.detail) s += `: ${e.detail}`;
  return s;
}

/**
 * errors.NewInvalid: details.kind is the Kind, and the message aggregates the field errors
 * (deduplicated, bracketed when more than one).
 * @param {{ group: string, kind: string }} gk @param {string} name @param {FieldError[]} errs
 */
export function invalid(gk, name, errs) {
  const msgs = [];
  for (const e of errs) {
    const m = `${e.field}: ${fieldErrorBody(e)}`;
    if (!msgs.includes(m)) msgs.push(m);
  }
  const agg = msgs.length === 1 ? msgs[0] : `[${msgs.join(', ')}]`;
  const kind = gk.group ? `${gk.kind}.${gk.group}` : gk.kind;
  return buildStatus({
    message: `${kind} ${goQuote(name)} is invalid: ${agg}`,
    reason: 'Invalid',
    details: {
      name,
      group: gk.group,
      kind: gk.kind,
      causes: errs.map((e) => ({ reason: e.type, message: fieldErrorBody(e), field: e.field })),
    },
    code: 422,
  });
}

/** Reason for a bare status code, as NewGenericServerResponse picks it (used by injected faults). @param {number} code */
export function reasonForCode(code) {
  /** @type {Record<number, string>} */
  const reasons = {
    400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 405: 'MethodNotAllowed',
    409: 'Conflict', 410: 'Expired', 422: 'Invalid', 429: 'TooManyRequests', 503: 'ServiceUnavailable', 504: 'Timeout',
  };
  return reasons[code] ?? (code >= 500 ? 'InternalError' : '');
}
