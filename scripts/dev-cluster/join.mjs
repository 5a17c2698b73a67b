// @ts-check
// The k3s supervisor's join routes (reference/k3s-join.md §3–5): /v1-k3s/config, the two CA
// files, the four certificate routes signing the agent's CSRs with the server or client CA,
// readyz, apiservers, connect — behind k3s's auth groups (401 `not authorized`, 403 `forbidden`)
// — and node passwords kept as k3s keeps them (scrypt string in an immutable
// `<node>.node-password.k3s` Secret). Token rotation stays in supervisor.mjs; no tunnel is served.
import { randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import { promisify } from 'node:util';
import { constantTimeEqual, userFromClientCert } from './authn.mjs';
import { nodeIdentity } from './admission.mjs';
import { badRequest, buildStatus } from './status.mjs';
import { signCsr } from './tls.mjs';

const scrypt = /** @type {(pw: string | Buffer, salt: Buffer, len: number, o: import('node:crypto').ScryptOptions) => Promise<Buffer>} */ (promisify(scryptCb));
// k3s pkg/authenticator/hash: N=2^15, r=8, p=1, 64-byte key, 8-byte salt.
const SCRYPT = { logN: 15, r: 8, p: 1, keyLen: 64, saltLen: 8 };
const scryptOpts = /** @param {number} logN @param {number} r @param {number} p */ (logN, r, p) => ({ N: 2 ** logN, r, p, maxmem: 256 * 2 ** logN * r });
export const NODE_PASSWORD_TYPE = 'k3s.cattle.io/node-password';

/** `$1:<hex salt>:15:8:1:<base64 raw key>`. @param {string} password */
export async function createNodePasswordHash(password) {
  const salt = randomBytes(SCRYPT.saltLen);
  const key = await scrypt(password, salt, SCRYPT.keyLen, scryptOpts(SCRYPT.logN, SCRYPT.r, SCRYPT.p));
  return `$1:${salt.toString('hex')}:${SCRYPT.logN}:${SCRYPT.r}:${SCRYPT.p}:${key.toString('base64').replace(/=+$/, '')}`;
}

/** @param {string} hash @param {string} password @returns {Promise<string | null>} null, or the error k3s reports */
export async function verifyNodePasswordHash(hash, password) {
  const m = /^\$1:([0-9a-f]+):(\d+):(\d+):(\d+):([A-Za-z0-9+/]+)$/.exec(hash);
  if (!m) return 'invalid hash format';
  const [, saltHex, logN, r, p, keyB64] = /** @type {string[]} */ (m);
  const want = Buffer.from(/** @type {string} */ (keyB64), 'base64');
  const got = await scrypt(password, Buffer.from(/** @type {string} */ (saltHex), 'hex'), want.length, scryptOpts(Number(logN), Number(r), Number(p)));
  return got.length === want.length && timingSafeEqual(got, want) ? null : 'hash does not match';
}

const CERT_ROUTES = ['serving-kubelet.crt', 'client-kubelet.crt', 'client-kube-proxy.crt', 'client-k3s-controller.crt'];
const AUTHED = ['config', 'client-ca.crt', 'server-ca.crt', 'readyz', 'apiservers', ...CERT_ROUTES];
const AGENT_GROUPS = ['k3s:agent', 'system:nodes', 'system:bootstrappers'];

/**
 * @param {{ store: ReturnType<typeof import('./store.mjs').openStore>, secrets: ReturnType<typeof import('./secrets.mjs').createSecretsApi>, nodes: ReturnType<typeof import('./objects.mjs').createObjectsApi>, tls: ReturnType<typeof import('./tls.mjs').ensureTls>, nodePasswordSecret: (node: string) => string, serverUrl: () => string }} ctx
 */
export function createJoinRoutes(ctx) {
  const { store, secrets, nodes, tls } = ctx;
  /** @param {number} code @param {string} message @param {string} reason */
  const fail = (code, message, reason) => ({ status: code, body: buildStatus({ message, reason, code }) });

  /**
   * The supervisor's authenticator union: client certificate, the passwd file (Basic
   * `server:`/`node:` with the server password), then the API server's (bearer tokens).
   * @param {{ headers: import('node:http').IncomingHttpHeaders, socket: import('node:tls').TLSSocket, apiUser: () => import('./authn.mjs').User | null | 'invalid' }} r
   * @returns {import('./authn.mjs').User | null | 'invalid'}
   */
  function authenticate(r) {
    const cert = userFromClientCert(r.socket);
    if (cert) return cert;
    const m = /^basic ([A-Za-z0-9+/]*={0,2})$/i.exec(String(r.headers.authorization ?? ''));
    if (m) {
      const decoded = Buffer.from(/** @type {string} */ (m[1]), 'base64').toString('utf8');
      const i = decoded.indexOf(':');
      const user = decoded.slice(0, i);
      if (i < 0 || !constantTimeEqual(decoded.slice(i + 1), store.state.serverPassword)) return 'invalid';
      if (user === 'server') return { username: 'server', groups: ['k3s:server'] };
      if (user === 'node') return { username: 'node', groups: ['k3s:agent'] };
      return 'invalid';
    }
    return r.apiUser();
  }

  /**
   * nodepassword.GetNodeAuthValidator: headers, node identity, then verify-or-create the Secret.
   * @param {import('node:http').IncomingHttpHeaders} headers @param {import('./authn.mjs').User} user
   * @returns {Promise<{ name: string } | { status: number, body: unknown }>}
   */
  async function validateNode(headers, user) {
    const rawName = String(headers['k3s-node-name'] ?? '');
    if (rawName === '') return { status: 400, body: badRequest('node name not set') };
    const password = String(headers['k3s-node-password'] ?? '');
    if (password === '') return { status: 400, body: badRequest('node password not set') };
    const name = rawName.toLowerCase();
    const identity = nodeIdentity(user);
    if (identity !== null && identity !== name) return { status: 400, body: badRequest('header node name does not match auth node name') };
    if (identity !== null && !nodes.lookup('', identity)) return fail(401, `unable to verify node identity: node "${identity}" not found`, 'Unauthorized');
    const secretName = ctx.nodePasswordSecret(name);
    let s = secrets.lookup('kube-system', secretName);
    if (!s) {
      const hash = await createNodePasswordHash(password);
      s = secrets.lookup('kube-system', secretName); // another request may have created it meanwhile
      if (!s) {
        const node = nodes.lookup('', name);
        const r = secrets.create('kube-system', JSON.stringify({
          metadata: { name: secretName, ...(node ? { ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name, uid: node.metadata.uid }] } : {}) },
          immutable: true,
          data: { hash: Buffer.from(hash).toString('base64') },
          type: NODE_PASSWORD_TYPE,
        }));
        if (r.status === 201) return { name };
        s = secrets.lookup('kube-system', secretName);
      }
    }
    const stored = s?.data?.hash === undefined ? undefined : Buffer.from(s.data.hash, 'base64').toString('utf8');
    const err = stored === undefined ? 'password hash not found in node secret' : await verifyNodePasswordHash(stored, password);
    if (err) return fail(403, `unable to verify password for node ${name}: ${err}`, 'Forbidden');
    return { name };
  }

  /** @param {string} route @param {string} node @param {Buffer} csr @param {string} ipHeader */
  function sign(route, node, csr, ipHeader) {
    const ips = ['127.0.0.1', ...ipHeader.split(',').map((s) => s.trim()).filter((s) => isIP(s) !== 0 && s !== '127.0.0.1')];
    const server = { caFile: tls.caFile, caKeyFile: tls.caKeyFile };
    const client = { caFile: tls.clientCaFile, caKeyFile: tls.clientCaKeyFile };
    /** @type {Parameters<typeof signCsr>[0]} */
    const spec =
      route === 'serving-kubelet.crt' ? { csrDer: csr, ...server, cn: node, usage: 'serverAuth', dns: [node, 'localhost'], ips }
      : route === 'client-kubelet.crt' ? { csrDer: csr, ...client, cn: `system:node:${node}`, o: 'system:nodes', usage: 'clientAuth' }
      : route === 'client-kube-proxy.crt' ? { csrDer: csr, ...client, cn: 'system:kube-proxy', usage: 'clientAuth' }
      : { csrDer: csr, ...client, cn: 'system:k3s-controller', usage: 'clientAuth' };
    const caPem = route === 'serving-kubelet.crt' ? tls.caPem : tls.clientCaPem;
    return signCsr(spec) + caPem;
  }

  return {
    /**
     * @param {{ path: string, method: string, rawBytes: Buffer, headers: import('node:http').IncomingHttpHeaders, socket: import('node:tls').TLSSocket, apiUser: () => import('./authn.mjs').User | null | 'invalid' }} r
     * @returns {Promise<{ status: number, body: unknown, contentType?: string } | null>} null: not a supervisor route (falls through to the API)
     */
    async handle(r) {
      const m = /^\/v1-k3s\/(.+)$/.exec(r.path);
      if (!m) return null;
      const route = /** @type {string} */ (m[1]);
      const required = AUTHED.includes(route) ? AGENT_GROUPS : route === 'connect' ? ['system:nodes'] : route.startsWith('encrypt/') || route === 'server-bootstrap' ? ['k3s:server'] : null;
      if (required === null) return null;
      const user = authenticate(r);
      if (user === 'invalid') return fail(401, 'not authorized', 'Unauthorized');
      if (user === null || !user.groups.some((g) => required.includes(g))) return fail(403, 'forbidden', 'Forbidden');
      const port = Number(new URL(ctx.serverUrl()).port);
      switch (route) {
        case 'config':
          return { status: 200, contentType: 'application/json', body: {
            SupervisorPort: port, HTTPSPort: port, APIServerPort: port, ClusterDomain: 'cluster.local', ClusterDNS: '10.43.0.10',
            ServiceIPRange: { IP: '10.43.0.0', Mask: '//8AAA==' }, ClusterIPRange: { IP: '10.42.0.0', Mask: '//8AAA==' }, ServiceNodePortRange: { Base: 30000, Size: 2768 },
            FlannelBackend: 'vxlan', DisableNPC: false, EgressSelectorMode: 'agent', DisableKubeProxy: false, ServerNodeName: 'dev-cluster' } };
        case 'client-ca.crt':
          return { status: 200, body: tls.clientCaPem, contentType: 'text/plain' };
        case 'server-ca.crt':
          return { status: 200, body: tls.caPem, contentType: 'text/plain' };
        case 'readyz':
          return { status: 200, body: 'ok', contentType: 'text/plain' };
        case 'apiservers':
          return { status: 200, body: [new URL(ctx.serverUrl()).host], contentType: 'application/json' };
        case 'connect':
          return { status: 400, body: "websocket: the client is not using the websocket protocol: 'upgrade' token not found in 'Connection' header", contentType: 'text/plain' };
      }
      if (CERT_ROUTES.includes(route)) {
        if (r.method !== 'POST') return fail(405, 'the server does not allow this method on the requested resource', 'MethodNotAllowed');
        let node = '';
        if (route === 'serving-kubelet.crt' || route === 'client-kubelet.crt') {
          const v = await validateNode(r.headers, user);
          if (!('name' in v)) return v;
          node = v.name;
        }
        if (r.rawBytes.length === 0) return { status: 400, body: badRequest('no certificate signing request in the request body') };
        try {
          return { status: 200, body: sign(route, node, r.rawBytes, String(r.headers['k3s-node-ip'] ?? '')), contentType: 'text/plain' };
        } catch {
          return { status: 400, body: badRequest('invalid certificate signing request') };
        }
      }
      return fail(503, 'runtime core not ready', 'ServiceUnavailable');
    },
  };
}
