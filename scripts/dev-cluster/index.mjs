// @ts-check
// startDevCluster: a local HTTPS server that behaves like a k3s server for what k3s-enroll, a
// joining agent and kubectl touch — /cacerts, Secrets in kube-system with RBAC, kube-root-ca.crt,
// selfsubjectreviews, Nodes and Leases with watch and NodeRestriction, discovery/version/OpenAPI,
// client certificates and bootstrap tokens as credentials, a token cleaner, the supervisor's join
// routes and token rotation, an admin kubeconfig (k3s.yaml) — plus `/__dev/` controls (clock
// offset, injected faults, watch-cache compaction) for tests.
import { createHash } from 'node:crypto';
import { createServer } from 'node:https';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createApiHandler } from './api.mjs';
import { authenticateBootstrapToken, constantTimeEqual, parseAuthorization, READONLY_USER, SA_USER, userFromClientCert } from './authn.mjs';
import { handleDiscovery } from './discovery.mjs';
import { createJoinRoutes, NODE_PASSWORD_TYPE } from './join.mjs';
import { createObjectsApi, LEASES, NODES } from './objects.mjs';
import { createWatchHub } from './watch.mjs';
import { createClock, formatRFC3339Seconds } from './clock.mjs';
import { parseGoRFC3339 } from './rfc3339.mjs';
import { createSecretsApi } from './secrets.mjs';
import { badRequest, buildStatus, goQuote, notFound, reasonForCode, UNAUTHORIZED } from './status.mjs';
import { openStore } from './store.mjs';
import { rotateToken } from './supervisor.mjs';
import { ensureTls } from './tls.mjs';
import { createWriteMeter } from './write-meter.mjs';

/** @typedef {{ method?: string, pathPrefix?: string, mode: 'status' | 'hang' | 'drop' | 'conflict' | 'status-after-write', status?: number, times?: number }} Fault */
const FAULT_MODES = ['status', 'hang', 'drop', 'conflict', 'status-after-write'];

/**
 * @param {{ host?: string, port?: number, stateDir: string, tokenCleanerIntervalMs?: number, anonymousAuth?: boolean, bookmarkIntervalMs?: number, watchHistory?: number, log?: (line: string) => void }} options
 */
export async function startDevCluster({ host = '127.0.0.1', port = 0, stateDir, tokenCleanerIntervalMs = 1000, anonymousAuth = false, bookmarkIntervalMs = 30_000, watchHistory = 1000, log = () => {} }) {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const tls = ensureTls(stateDir);
  const store = openStore(stateDir);
  const clock = createClock();
  const secrets = createSecretsApi({ store, clock });
  const hub = createWatchHub({ currentRv: () => store.state.rv, max: watchHistory });
  const nodes = createObjectsApi({ store, clock, hub, kind: NODES, bookmarkIntervalMs });
  const leases = createObjectsApi({ store, clock, hub, kind: LEASES, bookmarkIntervalMs });
  const nodePasswordSecret = /** @param {string} node */ (node) => `${node.toLowerCase()}.node-password.k3s`;
  const handleApi = createApiHandler({
    namespaces: () => store.state.namespaces,
    secrets, nodes, leases, caPem: tls.caPem,
    // k3s's node-password controller: the Secret gets an owner reference to its Node…
    onNodeCreated(node) {
      const s = secrets.lookup('kube-system', nodePasswordSecret(node.metadata.name));
      if (!s || s.metadata.ownerReferences) return;
      s.metadata.ownerReferences = [{ apiVersion: 'v1', kind: 'Node', name: node.metadata.name, uid: node.metadata.uid }];
      s.metadata.resourceVersion = store.nextRv();
      store.save();
    },
    // …so the garbage collector deletes it with the Node.
    onNodeDeleted(node) {
      const owned = (/** @type {any} */ o) => o.metadata.ownerReferences?.some((/** @type {any} */ r) => r.uid === node.metadata.uid);
      for (const [k, s] of Object.entries(store.state.secrets)) if (owned(s)) delete store.state.secrets[k];
      for (const l of leases.all('').filter(owned)) leases.remove(l.metadata.namespace, l.metadata.name, '');
      store.nextRv();
      store.save();
    },
  });
  const joinRoutes = createJoinRoutes({ store, secrets, nodes, tls, nodePasswordSecret, serverUrl: () => url });
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
    const info = { url, caFile: tls.caFile, kubeconfig: kubeconfigFile, serviceAccountToken: store.state.serviceAccountToken, readonlyServiceAccountToken: store.state.readonlyServiceAccountToken, serverToken: serverToken(), controlToken: store.state.controlToken };
    const file = join(stateDir, 'cluster.json');
    writeFileSync(`${file}.tmp`, JSON.stringify(info, null, 2) + '\n', { mode: 0o600 });
    renameSync(`${file}.tmp`, file);
  };

  // The admin kubeconfig, like k3s's /etc/rancher/k3s/k3s.yaml (cluster-admin by client certificate).
  const kubeconfigFile = join(stateDir, 'k3s.yaml');
  const b64 = /** @param {string} s */ (s) => Buffer.from(s).toString('base64');
  const writeKubeconfig = () => {
    const text = `apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: ${b64(tls.caPem)}
    server: ${url}
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
kind: Config
preferences: {}
users:
- name: default
  user:
    client-certificate-data: ${b64(tls.adminCert)}
    client-key-data: ${b64(tls.adminKey)}
`;
    writeFileSync(`${kubeconfigFile}.tmp`, text, { mode: 0o600 });
    renameSync(`${kubeconfigFile}.tmp`, kubeconfigFile);
  };

  /**
   * The API server's authenticator union: a verified client certificate, else a bearer token
   * (service accounts, bootstrap tokens).
   * @param {string | undefined} header @param {import('node:tls').TLSSocket} socket
   * @returns {import('./authn.mjs').User | null | 'invalid'}
   */
  function authenticate(header, socket) {
    const cert = userFromClientCert(socket);
    if (cert) return { username: cert.username, groups: [...cert.groups, 'system:authenticated'] };
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

  // Client certificates are asked for, never required: tokens stay a way in (k3s does the same).
  const server = createServer({ cert: tls.cert, key: tls.key, ca: [tls.clientCaPem], requestCert: true, rejectUnauthorized: false }, async (req, res) => {
    const url = new URL(req.url ?? '/', 'https://dev-cluster');
    const method = req.method ?? 'GET';
    /** @type {Buffer[]} */
    const chunks = [];
    try {
      for await (const chunk of req) chunks.push(chunk);
    } catch {
      return; // the client went away mid-body (ECONNRESET): nothing to answer, and no crash
    }
    const rawBytes = Buffer.concat(chunks);
    const raw = rawBytes.toString('utf8');
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
        if (url.pathname === '/__dev/compact' && method === 'POST') {
          hub.compact();
          return send(200, { floor: hub.floor });
        }
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
        await handle(url, method, raw, req, res, rawBytes);
        return send(fault.status ?? 500, buildStatus({ message: 'injected fault after write', reason: 'InternalError', code: fault.status ?? 500 }));
      }
      const r = await handle(url, method, raw, req, res, rawBytes);
      if ('streamed' in r) {
        requests.push({ method, path: url.pathname, status: res.statusCode });
        return;
      }
      if (r.status === 0) return req.socket.destroy();
      return send(r.status, r.body, r.contentType);
    } catch (err) {
      log(`error: ${err instanceof Error ? err.stack : err}`);
      return send(500, buildStatus({ message: `Internal error occurred: ${err}`, reason: 'InternalError', code: 500 }));
    }
  });

  /**
   * @param {URL} url @param {string} method @param {string} raw @param {import('node:http').IncomingMessage} req @param {import('node:http').ServerResponse} res @param {Buffer} rawBytes
   * @returns {Promise<{ status: number, body: unknown, contentType?: string } | { streamed: true }>}
   */
  async function handle(url, method, raw, req, res, rawBytes) {
    const path = url.pathname;
    const authorization = req.headers.authorization;
    if (path === '/cacerts') return { status: 200, body: tls.caPem, contentType: 'text/plain' };
    if (path === '/ping') return { status: 200, body: 'pong', contentType: 'text/plain' };
    if (/^\/v1-[^/]+\/token$/.test(path)) {
      const r = rotateToken({ method, path, authorization, body: raw }, store);
      if (r.status === 200) writeClusterJson();
      return r;
    }
    const socket = /** @type {import('node:tls').TLSSocket} */ (req.socket);
    if (/^\/v1-[^/]+\//.test(path)) {
      const r = await joinRoutes.handle({ path, method, rawBytes, headers: req.headers, socket, apiUser: () => authenticate(authorization, socket) });
      if (r) return r;
    }

    const user = authenticate(authorization, socket);
    if (user === 'invalid' || user === null) return { status: 401, body: UNAUTHORIZED };

    const d = handleDiscovery({ path, method, accept: String(req.headers.accept ?? ''), user, url: () => url });
    if (d) return d;
    const r = handleApi({ url, method, raw, contentType: String(req.headers['content-type'] ?? ''), accept: String(req.headers.accept ?? ''), nowMs: clock.nowMs(), user, res });
    if (r) return r;
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
    // k3s's node-password controller: Secrets without a Node, older than 10 minutes, are orphans.
    for (const [k, s] of Object.entries(store.state.secrets)) {
      if (s.metadata.namespace !== 'kube-system' || s.type !== NODE_PASSWORD_TYPE || s.metadata.ownerReferences) continue;
      const node = s.metadata.name.replace(/\.node-password\.k3s$/, '');
      if (nodes.lookup('', node) || clock.nowMs() - Date.parse(s.metadata.creationTimestamp) < 10 * 60_000) continue;
      delete store.state.secrets[k];
      changed = true;
      log(`node-password: deleted orphan ${k}`);
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
  writeKubeconfig();
  writeClusterJson();
  log(`listening on ${url}`);

  return {
    url,
    caFile: tls.caFile,
    caPem: tls.caPem,
    clientCaPem: tls.clientCaPem,
    kubeconfig: kubeconfigFile,
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
      store.close();
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve(undefined)));
    },
  };
}
