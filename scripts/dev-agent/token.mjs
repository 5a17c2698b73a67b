// @ts-check
// k3s's token forms (pkg/clientaccess/token.go parseToken; reference/k3s-join.md §1): the CA hash
// and the credential an agent sends. Parsing only; nothing here talks to a server.

const BOOTSTRAP_RE = /^([a-z0-9]{6})\.([a-z0-9]{16})$/;

/**
 * @param {string} raw
 * @returns {{ caHash: string, bootstrap: string | null, username: string, password: string }}
 * @throws {Error} with k3s's message
 */
export function parseToken(raw) {
  let t = raw.trim();
  if (t === '') throw new Error('token must not be empty');
  if (!t.startsWith('K10')) t = BOOTSTRAP_RE.test(t) ? `K10::${t}` : `K10:::${t}`;
  let creds = t.slice(3);
  let caHash = '';
  const i = creds.indexOf('::');
  if (i >= 0) {
    caHash = creds.slice(0, i);
    if (caHash.length > 0 && !/^[0-9a-fA-F]{64}$/.test(caHash)) throw new Error('invalid token CA hash length');
    creds = creds.slice(i + 2);
  }
  if (BOOTSTRAP_RE.test(creds)) return { caHash: caHash.toLowerCase(), bootstrap: creds, username: '', password: creds };
  const c = creds.indexOf(':');
  if (c < 0 || c === creds.length - 1) throw new Error('invalid token format');
  return { caHash: caHash.toLowerCase(), bootstrap: null, username: creds.slice(0, c), password: creds.slice(c + 1) };
}

/** What an agent puts on the wire: Bearer for a bootstrap token, else Basic node:<password> (agents ignore the user part). @param {ReturnType<typeof parseToken>} t */
export function agentAuthorization(t) {
  return t.bootstrap ? `Bearer ${t.bootstrap}` : `Basic ${Buffer.from(`node:${t.password}`).toString('base64')}`;
}
