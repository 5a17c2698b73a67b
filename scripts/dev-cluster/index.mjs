// @ts-check
// startDevCluster: a local HTTPS server that behaves like k3s's API server for what k3s-enroll
// and a joining agent touch — /cacerts, Secrets in kube-system with RBAC, kube-root-ca.crt,
// selfsubjectreviews through the bootstrap token authenticator, a token cleaner, the supervisor's
// token rotation — plus `/__dev/` controls (clock offset, injected faults) for tests.
import { createHash } from 'node:crypto';
import { createServer } from 'node:https';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { authenticateBootstrapToken, authorize, constantTimeEqual, parseAuthorization, READONLY_USER, SA_USER } from './authn.mjs';
import { createClock, formatRFC3339Seconds } from './clock.mjs';
import { parseGoRFC3339 } from './rfc3339.mjs';
import { createSecretsApi } from './secrets.mjs';
import { badRequest, buildStatus, forbidden, goQuote, notFound, reasonForCode, UNAUTHORIZED } from './status.mjs';
import { openStore } from './store.mjs';
import { rotateToken } from './supervisor.mjs';
import { ensureTls } from './tls.mjs';
import { createWriteMeter } from './write-meter.mjs';

/** @typedef {{ method?: string, pathPrefix?: string, mode: 'status' | 'hang' | 'drop' | 'conflict' | 'status-after-write', status?: number, times?: number }} Fault */
const FAULT_MODES = ['status', 'hang', 'drop', 'conflict', 'status-after-write'];

/**
 * @param {{ host?: string, port?: number, stateDir: string, tokenCleanerIntervalMs?: number, anonymousAuth?: boolean, log?: (line: string) => void }} options
 */
export async function startDevCluster({ host = '127.0.0.1', port = 0, stateDir, tokenCleanerIntervalMs = 1000, anonymousAuth = false, log = () => {} }) {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const tls = ensureTls(stateDir);
  const store = openStore(stateDir);
  const clock = createClock();
  const secrets = createSecretsApi({ store, clock });
  const writes = createWriteMeter();
  const caHash = createHash('sha256').update(tls.caPem).digest('hex');
  /** @type {Fault[]} */
  let faults = [];
  /** @type {Array<{ method: string, path: string, status: number }>} */
  const requests = [];
  /** @type {Set<import('node:net').Socket>} */
  const sockets = new Set();

  const serverToken = () => `K10${caHash}::server:${store.state.serverPassword}`;
  /** @type {string} */
  let url = '';
  // <stateDir>/cluster.json always holds the current credentials, the server token included after
  // a rotation (like k3s rewriting <data-dir>/server/token).
  const writeClusterJson = () => {
    const info = { url, caFile: tls.caFile, serviceAccountToken: store.state.serviceAccountToken, readonlyServiceAccountToken: store.state.readonlyServiceAccountToken, serverToken: serverToken(), controlToken: store.state.controlToken };
    const file = join(stateDir, 'cluster.json');
    writeFileSync(`${file}.tmp`, JSON.stringify(info, null, 2) + '\n', { mode: 0o600 });
    renameSync(`${file}.tmp`, file);
  };

  /** @param {string | undefined} header @returns {import('./authn.mjs').User | null | 'invalid'} */
  function authenticate(header) {
    const a = parseAuthorization(header);
    // A non-Bearer scheme (e.g. Basic) is "no bearer credentials", not an invalid one.
    if (a.kind !== 'bearer') return anonymousAuth ? { username: 'system:anonymous', groups: ['system:unauthenticated'] } : null;
    let user = null;
    if (constantTimeEqual(a.token, store.state.serviceAccountToken)) user = { username: SA_USER, groups: ['system:serviceaccounts', 'system:serviceaccounts:k3s-enroll'] };
    else if (constantTimeEqual(a.token, store.state.readonlyServiceAccountToken)) user = { username: READONLY_USER, groups: ['system:serviceaccounts', 'system:serviceaccounts:k3s-enroll'] };
    else user = authenticateBootstrapToken(a.token, (name) => secrets.lookup('kube-system', name), clock.nowNs());
    if (!user) return 'invalid';
    return { username: user.username, groups: [...user.groups, 'system:authenticated'] };
  }

  const server = createServer({ cert: tls.cert, key: tls.key }, async (req, res) => {
    const url = new URL(req.url ?? '/', 'https://dev-cluster');
    const method = req.method ?? 'GET';
    let raw = '';
    try {
      for await (const chunk of req) raw += chunk;
    } catch {
      return; // the client went away mid-body (ECONNRESET): nothing to answer, and no crash
    }
    /** @param {number} status @param {unknown} body @param {string} [type] */
    const send = (status, body, type = 'application/json') => {
      requests.push({ method, path: url.pathname, status });
      if (requests.length > 500) requests.shift();
      res.writeHead(status, { 'content-type': type, date: new Date(clock.nowMs()).toUTCString(), 'cache-control': 'no-cache, private' });
      res.end(typeof body === 'string' ? body : JSON.stringify(body));
    };
    try {
      // Test controls, invisible without the control token.
      if (url.pathname.startsWith('/__dev/')) {
        if (req.headers['x-dev-cluster-control'] !== store.state.controlToken) return send(404, notFound({ group: '', resource: '' }, url.pathname));
        const body = raw ? JSON.parse(raw) : {};
        if (url.pathname === '/__dev/clock' && method === 'PUT') {
          clock.offsetSeconds = Number(body.offsetSeconds) || 0;
          return send(200, { offsetSeconds: clock.offsetSeconds });
        }
        if (url.pathname === '/__dev/faults' && method === 'POST') {
          // An unknown mode would otherwise fall through to status-after-write and write for real.
          if (!FAULT_MODES.includes(body.mode)) return send(400, badRequest(`mode must be one of ${FAULT_MODES.join(', ')}`));
          faults.push({ times: 1, ...body });
          return send(201, { faults });
        }
        if (url.pathname === '/__dev/faults' && method === 'DELETE') {
          faults = [];
          return send(200, { faults });
        }
        if (url.pathname === '/__dev/requests' && method === 'GET') return send(200, requests);
        if (url.pathname === '/__dev/writes') return send(200, method === 'DELETE' ? (writes.reset(), writes.snapshot()) : writes.snapshot());
        return send(404, notFound({ group: '', resource: '' }, url.pathname));
      }

      writes.record(method, url.pathname);
      const fault = faults.find((f) => (f.method ?? method) === method && url.pathname.startsWith(f.pathPrefix ?? '/') && (f.times ?? 1) > 0);
      if (fault) {
        fault.times = (fault.times ?? 1) - 1;
        faults = faults.filter((f) => (f.times ?? 1) > 0);
        if (fault.mode === 'hang') return; // never answered; close() destroys the socket
        if (fault.mode === 'drop') return req.socket.destroy();
        if (fault.mode === 'status') return send(fault.status ?? 500, buildStatus({ message: 'injected fault', reason: reasonForCode(fault.status ?? 500), code: fault.status ?? 500 }));
        if (fault.mode === 'conflict') {
          let name = '';
          try {
            name = JSON.parse(raw)?.metadata?.name ?? '';
          } catch {}
          return send(409, buildStatus({ message: `secrets ${goQuote(name)} already exists`, reason: 'AlreadyExists', details: { name, kind: 'secrets' }, code: 409 }));
        }
        // status-after-write falls through to the real handler, then lies about the outcome.
        await handle(url, method, raw, req.headers.authorization);
        return send(fault.status ?? 500, buildStatus({ message: 'injected fault after write', reason: 'InternalError', code: fault.status ?? 500 }));
      }
      const r = await handle(url, method, raw, req.headers.authorization);
      if (r.status === 0) return req.socket.destroy();
      return send(r.status, r.body, r.contentType);
    } catch (err) {
      log(`error: ${err instanceof Error ? err.stack : err}`);
      return send(500, buildStatus({ message: `Internal error occurred: ${err}`, reason: 'InternalError', code: 500 }));
    }
  });

  /**
   * @param {URL} url @param {string} method @param {string} raw @param {string | undefined} authorization
   * @returns {Promise<{ status: number, body: unknown, contentType?: string }>}
   */
  async function handle(url, method, raw, authorization) {
    const path = url.pathname;
    if (path === '/cacerts') return { status: 200, body: tls.caPem, contentType: 'text/plain' };
    if (path === '/ping') return { status: 200, body: 'pong', contentType: 'text/plain' };
    if (/^\/v1-[^/]+\/token$/.test(path)) {
      const r = rotateToken({ method, path, authorization, body: raw }, store);
      if (r.status === 200) writeClusterJson();
      return r;
    }

    const user = authenticate(authorization);
    if (user === 'invalid' || user === null) return { status: 401, body: UNAUTHORIZED };

    if (path === '/apis/authentication.k8s.io/v1/selfsubjectreviews' && method === 'POST') {
      if (!authorize(user, { verb: 'create', resource: 'selfsubjectreviews', namespace: '' })) return { status: 403, body: forbidden({ group: 'authentication.k8s.io', resource: 'selfsubjectreviews' }, '', `User ${goQuote(user.username)} cannot create resource "selfsubjectreviews" in API group "authentication.k8s.io" at the cluster scope`) };
      return { status: 201, body: { kind: 'SelfSubjectReview', apiVersion: 'authentication.k8s.io/v1', metadata: { creationTimestamp: null }, status: { userInfo: { username: user.username, groups: user.groups } } } };
    }

    const cm = /^\/api\/v1\/namespaces\/([^/]+)\/configmaps\/([^/]+)$/.exec(path);
    if (cm && method === 'GET') {
      const [, ns, name] = /** @type {[string, string, string]} */ (cm);
      if (!authorize(user, { verb: 'get', resource: 'configmaps', namespace: ns, name })) return { status: 403, body: forbidden({ group: '', resource: 'configmaps' }, name, `User ${goQuote(user.username)} cannot get resource "configmaps" in API group "" in the namespace ${goQuote(ns)}`) };
      if (name !== 'kube-root-ca.crt') return { status: 404, body: notFound({ group: '', resource: 'configmaps' }, name) };
      return { status: 200, body: { kind: 'ConfigMap', apiVersion: 'v1', metadata: { name, namespace: ns, annotations: { 'kubernetes.io/description': 'Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.' } }, data: { 'ca.crt': tls.caPem } } };
    }

    const sec = /^\/api\/v1\/namespaces\/([^/]+)\/secrets(?:\/([^/]+))?$/.exec(path);
    if (sec) {
      const [, ns, name] = /** @type {[string, string, string | undefined]} */ (sec);
      const verb = name === undefined ? (method === 'POST' ? 'create' : method === 'GET' ? 'list' : '') : method === 'GET' ? 'get' : method === 'DELETE' ? 'delete' : '';
      if (verb === '') return { status: 405, body: buildStatus({ message: `the server does not allow this method on the requested resource`, reason: 'MethodNotAllowed', code: 405 }) };
      if (!authorize(user, { verb, resource: 'secrets', namespace: ns, ...(name ? { name } : {}) })) {
        return { status: 403, body: forbidden({ group: '', resource: 'secrets' }, name ?? '', `User ${goQuote(user.username)} cannot ${verb} resource "secrets" in API group "" in the namespace ${goQuote(ns)}`) };
      }
      if (verb === 'create') return secrets.create(ns, raw);
      if (verb === 'list') return secrets.list(ns, url.searchParams);
      if (verb === 'get') return secrets.get(ns, /** @type {string} */ (name));
      return secrets.remove(ns, /** @type {string} */ (name), raw);
    }
    return { status: 404, body: buildStatus({ message: 'the server could not find the requested resource', reason: 'NotFound', details: {}, code: 404 }) };
  }

  // Token cleaner (kube-controller-manager's, which k3s enables): expired or unparseable → deleted.
  const cleaner = setInterval(() => {
    const nowNs = clock.nowNs();
    let changed = false;
    for (const [k, s] of Object.entries(store.state.secrets)) {
      if (s.metadata.namespace !== 'kube-system' || s.type !== 'bootstrap.kubernetes.io/token') continue;
      const raw = s.data?.expiration;
      if (raw === undefined) continue;
      const exp = Buffer.from(raw, 'base64').toString('utf8');
      if (exp === '') continue;
      const t = parseGoRFC3339(exp);
      if (t === null || t - nowNs <= 0n) {
        delete store.state.secrets[k];
        changed = true;
        log(`tokencleaner: deleted ${k}`);
      }
    }
    if (changed) {
      store.nextRv();
      store.save();
    }
  }, tokenCleanerIntervalMs);
  cleaner.unref();

  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(undefined));
  });
  const addr = /** @type {import('node:net').AddressInfo} */ (server.address());
  url = `https://${host}:${addr.port}`;
  writeClusterJson();
  log(`listening on ${url}`);

  return {
    url,
    caFile: tls.caFile,
    caPem: tls.caPem,
    get serviceAccountToken() {
      return store.state.serviceAccountToken;
    },
    get readonlyServiceAccountToken() {
      return store.state.readonlyServiceAccountToken;
    },
    get serverToken() {
      return serverToken();
    },
    get controlToken() {
      return store.state.controlToken;
    },
    stateDir,
    /** Current creation time format helper for tests. */
    now: () => formatRFC3339Seconds(clock.nowMs()),
    close() {
      clearInterval(cleaner);
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve(undefined)));
    },
  };
}
