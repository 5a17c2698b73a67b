// @ts-check
// The k3s supervisor's server-token rotation (`PUT /v1-k3s/token`, reference/k3s-token.md §3.6):
// Basic `server:<password>`, body `{"newToken":"…"}`, normalized as k3s does; the old password
// stops working at once. Other supervisor routes are not emulated.
import { randomBytes } from 'node:crypto';
import { buildStatus } from './status.mjs';

const BOOTSTRAP_RE = /^([a-z0-9]{6})\.([a-z0-9]{16})$/;
let errorId = 10000;

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
 * @param {{ method: string, authorization: string | undefined, body: string }} req
 * @param {{ state: { serverPassword: string }, save(): void }} store
 * @returns {{ status: number, body: string, contentType?: string }}
 */
export function rotateToken(req, store) {
  const json = (/** @type {number} */ status, /** @type {string} */ message) => ({ status, contentType: 'application/json', body: JSON.stringify(buildStatus({ message, reason: status === 401 ? 'Unauthorized' : status === 403 ? 'Forbidden' : '', code: status })) });
  const m = /^Basic ([A-Za-z0-9+/=]+)$/.exec(req.authorization ?? '');
  if (!m) return json(req.authorization ? 401 : 403, req.authorization ? 'not authorized' : 'forbidden');
  const decoded = Buffer.from(/** @type {string} */ (m[1]), 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  const user = decoded.slice(0, i);
  const password = decoded.slice(i + 1);
  if (i < 0 || user !== 'server' || password !== store.state.serverPassword) return json(401, 'not authorized');
  if (req.method !== 'PUT') return { status: 405, body: 'method not allowed' };
  /** @type {any} */
  let body;
  try {
    body = JSON.parse(req.body);
  } catch {
    return json(400, 'invalid request body');
  }
  if (typeof body?.newToken !== 'string') return { status: 0, body: '' }; // k3s dereferences a nil pointer: the connection drops
  const next = body.newToken === '' ? randomBytes(16).toString('hex') : normalizeToken(body.newToken);
  if (next === null) return json(500, `token error ID ${++errorId}`);
  store.state.serverPassword = next;
  store.save();
  return { status: 200, body: '' };
}
