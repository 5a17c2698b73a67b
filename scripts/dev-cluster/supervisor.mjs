// @ts-check
// The k3s supervisor's server-token rotation (`PUT /v1-k3s/token`, reference/k3s-token.md §3.6):
// Basic `server:<password>`, body `{"newToken":"…"}`, normalized as k3s does; the old password
// stops working at once. The join routes are in join.mjs.
import { randomBytes, randomInt } from 'node:crypto';
import { constantTimeEqual } from './authn.mjs';
import { badRequest, buildStatus, internalError } from './status.mjs';

const BOOTSTRAP_RE = /^([a-z0-9]{6})\.([a-z0-9]{16})$/;

/** k3s util.NormalizeToken: the password of `K10<hash>::<user>:<pw>` or a bare password. @param {string} token */
export function normalizeToken(token) {
  if (token === '') return null;
  let t = token;
  if (!t.startsWith('K10')) t = BOOTSTRAP_RE.test(t) ? `K10::${t}` : `K10:::${t}`;
  const rest = t.slice(3);
  const i = rest.indexOf('::');
  let creds = rest;
  if (i >= 0) {
    if (i !== 0 && i !== 64) return null;
    creds = rest.slice(i + 2);
  }
  if (BOOTSTRAP_RE.test(creds)) return null;
  const c = creds.indexOf(':');
  if (c < 0 || c === creds.length - 1) return null;
  return creds.slice(c + 1);
}

/**
 * Errors as k3s's util.SendError writes them: 401 `not authorized` / 403 `forbidden` from
 * auth.doAuth, NewBadRequest for 400, NewGenericServerResponse for 405, NewInternalError with a
 * random 5-digit ID for 500.
 * @param {{ method: string, path?: string, authorization: string | undefined, body: string }} req
 * @param {{ state: { serverPassword: string }, save(): void }} store
 * @returns {{ status: number, body: string, contentType?: string }}
 */
export function rotateToken(req, store) {
  const status = (/** @type {unknown} */ body) => ({ status: /** @type {any} */ (body).code, contentType: 'application/json', body: JSON.stringify(body) });
  // net/http BasicAuth: case-insensitive scheme, std base64, split at the first ':'.
  const m = /^basic ([A-Za-z0-9+/]*={0,2})$/i.exec(req.authorization ?? '');
  const decoded = m ? Buffer.from(/** @type {string} */ (m[1]), 'base64').toString('utf8') : '';
  const i = decoded.indexOf(':');
  // No Basic credentials: the apiserver's authenticator gets the request; anything presented
  // there that is not a valid credential is an error (401), nothing at all is 403.
  if (!m || i < 0) return status(buildStatus(req.authorization ? { message: 'not authorized', reason: 'Unauthorized', code: 401 } : { message: 'forbidden', reason: 'Forbidden', code: 403 }));
  const user = decoded.slice(0, i);
  const password = decoded.slice(i + 1);
  // passwd has `server` (k3s:server) and, without --agent-token, `node` (k3s:agent) with the same password.
  if ((user !== 'server' && user !== 'node') || !constantTimeEqual(password, store.state.serverPassword)) {
    return status(buildStatus({ message: 'not authorized', reason: 'Unauthorized', code: 401 }));
  }
  if (user !== 'server') return status(buildStatus({ message: 'forbidden', reason: 'Forbidden', code: 403 }));
  if (req.method !== 'PUT') {
    return status(buildStatus({
      message: 'the server does not allow this method on the requested resource',
      reason: 'MethodNotAllowed',
      details: { name: req.path ?? '/v1-k3s/token', causes: [{ reason: 'UnexpectedServerResponse', message: 'method not allowed' }] },
      code: 405,
    }));
  }
  /** @type {any} */
  let body;
  try {
    body = JSON.parse(req.body);
  } catch (err) {
    return status(badRequest(req.body.trim() === '' ? 'unexpected end of JSON input' : String(err instanceof Error ? err.message : err)));
  }
  if (body?.newToken !== undefined && body?.newToken !== null && typeof body.newToken !== 'string') {
    return status(badRequest(`json: cannot unmarshal ${typeof body.newToken} into Go struct field TokenRotateRequest.newToken of type string`));
  }
  if (typeof body?.newToken !== 'string') return { status: 0, body: '' }; // k3s dereferences a nil pointer: the connection drops
  const next = body.newToken === '' ? randomBytes(16).toString('hex') : normalizeToken(body.newToken);
  if (next === null) return status(internalError(`token error ID ${String(randomInt(99999)).padStart(5, '0')}`));
  store.state.serverPassword = next;
  store.save();
  return { status: 200, body: '' };
}
