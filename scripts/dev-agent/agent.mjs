// @ts-check
// A dev stand-in for `k3s agent`: the CA check before any credential (reference/k3s-join.md §2),
// the supervisor's join requests (§3) with the node password (§5), k3s's file layout under the
// data dir, then the kubelet's part — register the Node as system:node:<name>, set Ready, renew
// the Lease. It runs no containers, no tunnel and no kube-proxy.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { agentAuthorization, parseToken } from './token.mjs';

/** Exit codes, documented in README and main.mjs. */
export const EXIT = { OK: 0, USAGE: 2, CA: 3, UNREACHABLE: 4, TOKEN_REFUSED: 5, PASSWORD_REFUSED: 6, REGISTRATION_REFUSED: 7 };
const K3S_VERSION = 'v1.32.4+k3s1';

export class AgentError extends Error {
  /** @param {number} code @param {string} message */
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/**
 * @typedef {{ status: number, body: Buffer, text: string }} Res
 * @typedef {{ ca?: string | null, cert?: string, key?: string, auth?: string, headers?: Record<string, string>, body?: Buffer | string, contentType?: string, verify?: boolean }} ReqOpts
 */

/** @param {string} url @param {string} method @param {ReqOpts} o @returns {Promise<Res>} */
function httpsCall(url, method, o) {
  const u = new URL(url);
  const body = o.body === undefined ? undefined : Buffer.isBuffer(o.body) ? o.body : Buffer.from(o.body);
  return new Promise((resolve, reject) => {
    const req = request({
      hostname: u.hostname, port: u.port, path: u.pathname + u.search, method, timeout: 10_000,
      ...(o.ca ? { ca: o.ca } : {}), rejectUnauthorized: o.verify !== false,
      ...(o.cert ? { cert: o.cert, key: o.key } : {}),
      headers: { ...(o.auth ? { authorization: o.auth } : {}), ...(body ? { 'content-type': o.contentType ?? 'application/json', 'content-length': String(body.length) } : {}), 'user-agent': `k3s/${K3S_VERSION} (dev-agent)`, ...o.headers },
    }, (res) => {
      /** @type {Buffer[]} */
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => {
        const b = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, body: b, text: b.toString('utf8') });
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

/** TLS handshake/verification failures, as opposed to the server being unreachable. @param {unknown} err */
const isTlsError = (err) => /CERT|SELF_SIGNED|UNABLE_TO|ERR_TLS|Hostname|altnames/i.test(String(/** @type {any} */ (err)?.code ?? '') + String(/** @type {any} */ (err)?.message ?? ''));

/** k3s hashCA: one certificate → SHA-256 of the body; several → the root's DER, else the body. @param {string} bundle */
export function hashCA(bundle) {
  const pems = bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (pems.length > 1) {
    try {
      const certs = pems.map((p) => new X509Certificate(p));
      let cur = /** @type {X509Certificate} */ (certs[0]);
      for (let i = 0; i < certs.length && !cur.checkIssued(cur); i++) {
        const parent = certs.find((c) => c !== cur && cur.checkIssued(c) && cur.verify(c.publicKey));
        if (!parent) throw new Error('no chain');
        cur = parent;
      }
      if (cur.checkIssued(cur)) return createHash('sha256').update(cur.raw).digest('hex');
    } catch {}
  }
  return createHash('sha256').update(bundle).digest('hex');
}

/**
 * @param {ReturnType<typeof import('./config.mjs').loadSettings>} s
 * @param {{ log: (level: string, msg: string) => void, signal?: AbortSignal, sleep?: (ms: number) => Promise<void> }} io
 * @returns {Promise<{ node: string, ready: boolean }>}
 */
export async function runAgent(s, io) {
  const sleep = io.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  const token = (() => {
    try {
      return parseToken(s.token);
    } catch (err) {
      throw new AgentError(EXIT.USAGE, String(/** @type {Error} */ (err).message));
    }
  })();
  const agentDir = join(s.dataDir, 'agent');
  mkdirSync(agentDir, { recursive: true, mode: 0o700 });
  const file = /** @param {string} n */ (n) => join(agentDir, n);
  const write = /** @param {string} path @param {string | Buffer} data @param {number} [mode] */ (path, data, mode = 0o600) => {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    writeFileSync(`${path}.tmp`, data, { mode });
    renameSync(`${path}.tmp`, path);
  };
  const nodeName = s.nodeName || hostname().toLowerCase();
  const deadline = s.timeoutSeconds > 0 ? Date.now() + s.timeoutSeconds * 1000 : Infinity;

  // §2: the CA, checked before any credential is sent. Unreachable → retry every 2 s.
  /** @type {string} */
  let bundle;
  for (;;) {
    try {
      bundle = await caCerts();
      break;
    } catch (err) {
      if (err instanceof AgentError) throw err;
      io.log('error', `Failed to validate connection to cluster at ${s.server}: ${/** @type {Error} */ (err).message}`);
      if (Date.now() + 2000 > deadline) throw new AgentError(EXIT.UNREACHABLE, `cluster unreachable at ${s.server}: ${/** @type {Error} */ (err).message}`);
      await sleep(2000);
    }
  }
  async function caCerts() {
    const url = `${s.server}/cacerts`;
    try {
      const trusted = await httpsCall(url, 'GET', {});
      if (trusted.status === 200) {
        io.log('warning', 'Cluster CA certificate is trusted by the host CA bundle. Token CA hash will not be validated.');
        return trusted.text;
      }
    } catch (err) {
      if (!isTlsError(err)) throw err;
    }
    const insecure = await httpsCall(url, 'GET', { verify: false });
    if (insecure.status !== 200) throw new Error(`${url}: ${insecure.status}`);
    const body = insecure.text;
    try {
      await httpsCall(url, 'GET', { ca: body });
    } catch (err) {
      if (!isTlsError(err)) throw err;
      throw new AgentError(EXIT.CA, `CA cert validation failed: ${/** @type {Error} */ (err).message}`);
    }
    if (token.caHash) {
      const got = hashCA(body);
      if (got !== token.caHash) {
        const msg = `token CA hash does not match the Cluster CA certificate hash: ${token.caHash} != ${got}`;
        io.log('error', `Failed to validate connection to cluster at ${s.server}: ${msg}`);
        throw new AgentError(EXIT.CA, msg);
      }
    }
    return body;
  }

  // A restart presents the client certificate it has, so it survives the token's deletion.
  const haveCert = () => existsSync(file('client-kubelet.crt')) && existsSync(file('client-kubelet.key'));
  let useCert = haveCert();
  const auth = agentAuthorization(token);
  /** @param {string} path @param {string} method @param {ReqOpts} [o] @returns {Promise<Res>} */
  const supervisor = async (path, method, o = {}) => {
    const url = `${s.server}${path}`;
    const certOpts = useCert ? { cert: readFileSync(file('client-kubelet.crt'), 'utf8'), key: readFileSync(file('client-kubelet.key'), 'utf8') } : {};
    let r;
    try {
      r = await httpsCall(url, method, { ca: bundle, auth, ...certOpts, ...o });
    } catch (err) {
      throw new AgentError(EXIT.UNREACHABLE, `${url}: ${/** @type {Error} */ (err).message}`);
    }
    if (r.status === 401 && useCert) {
      useCert = false; // §3: a 401 with a client certificate is retried once without it
      return supervisor(path, method, o);
    }
    if (r.status === 401 || (r.status === 403 && path === '/v1-k3s/config')) throw new AgentError(EXIT.TOKEN_REFUSED, `${url}: ${r.status} ${r.status === 401 ? 'Unauthorized' : 'Forbidden'}: ${statusMessage(r)}`);
    return r;
  };

  const config = await supervisor('/v1-k3s/config', 'GET');
  if (config.status !== 200) throw new AgentError(EXIT.REGISTRATION_REFUSED, `failed to retrieve agent config: ${config.status} ${statusMessage(config)}`);
  for (const ca of ['client-ca.crt', 'server-ca.crt']) {
    const r = await supervisor(`/v1-k3s/${ca}`, 'GET');
    if (r.status !== 200) throw new AgentError(EXIT.REGISTRATION_REFUSED, `failed to get ${ca}: ${r.status}`);
    write(file(ca), r.body, 0o644);
  }

  // §5: the node password, generated once and kept (k3s: /etc/rancher/node/password).
  const passwordFile = join(s.dataDir, 'etc', 'rancher', 'node', 'password');
  if (!existsSync(passwordFile)) write(passwordFile, randomBytes(16).toString('hex') + '\n');
  const nodePassword = readFileSync(passwordFile, 'utf8').trim();

  for (const [route, needsNode] of /** @type {const} */ ([['serving-kubelet', true], ['client-kubelet', true], ['client-kube-proxy', false], ['client-k3s-controller', false]])) {
    const keyFile = file(`${route}.key`);
    if (!existsSync(keyFile)) {
      execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${keyFile}.tmp`], { stdio: ['ignore', 'pipe', 'pipe'] });
      renameSync(`${keyFile}.tmp`, keyFile);
    }
    const csr = execFileSync('openssl', ['req', '-new', '-key', keyFile, '-subj', `/CN=${route === 'client-kubelet' ? `system:node:${nodeName}` : nodeName}`, '-outform', 'DER'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const headers = needsNode ? { 'K3s-Node-Name': nodeName, 'K3s-Node-Password': nodePassword, ...(s.nodeIps.length ? { 'K3s-Node-Ip': s.nodeIps.join(',') } : {}) } : {};
    const r = await supervisor(`/v1-k3s/${route}.crt`, 'POST', { body: csr, contentType: 'application/octet-stream', headers });
    if (r.status === 403) {
      io.log('error', `Node password rejected, duplicate hostname or contents of '${passwordFile}' may not match server node-passwd entry, try enabling a unique node name with the --with-node-id flag`);
      throw new AgentError(EXIT.PASSWORD_REFUSED, `${s.server}/v1-k3s/${route}.crt: 403 Forbidden: ${statusMessage(r)}`);
    }
    if (r.status !== 200) throw new AgentError(EXIT.REGISTRATION_REFUSED, `${s.server}/v1-k3s/${route}.crt: ${r.status} ${statusMessage(r)}`);
    write(file(`${route}.crt`), r.body, 0o644);
  }
  useCert = true;
  for (const [kc, cert] of [['kubelet.kubeconfig', 'client-kubelet'], ['kubeproxy.kubeconfig', 'client-kube-proxy'], ['k3scontroller.kubeconfig', 'client-k3s-controller']]) {
    write(file(/** @type {string} */ (kc)), `apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority: ${file('server-ca.crt')}\n    server: ${s.server}\n  name: local\ncontexts:\n- context:\n    cluster: local\n    namespace: default\n    user: user\n  name: Default\ncurrent-context: Default\nkind: Config\npreferences: {}\nusers:\n- name: user\n  user:\n    client-certificate: ${file(`${cert}.crt`)}\n    client-key: ${file(`${cert}.key`)}\n`);
  }
  const readyz = await supervisor('/v1-k3s/readyz', 'GET');
  if (readyz.status !== 200) io.log('info', `Waiting for apiserver: ${readyz.status}`);
  await supervisor('/v1-k3s/apiservers', 'GET');

  // The kubelet's part, as system:node:<name> with the client certificate.
  const kubelet = { ca: bundle, cert: readFileSync(file('client-kubelet.crt'), 'utf8'), key: readFileSync(file('client-kubelet.key'), 'utf8') };
  /** @param {string} path @param {string} method @param {unknown} [body] @param {string} [contentType] */
  const api = async (path, method, body, contentType) => {
    try {
      return await httpsCall(`${s.server}${path}`, method, { ...kubelet, ...(body === undefined ? {} : { body: JSON.stringify(body), contentType: contentType ?? 'application/json' }) });
    } catch (err) {
      throw new AgentError(EXIT.UNREACHABLE, `${s.server}${path}: ${/** @type {Error} */ (err).message}`);
    }
  };
  /** @param {Res} r @param {string} what */
  const refuse = (r, what) => {
    throw new AgentError(EXIT.REGISTRATION_REFUSED, `${what}: ${r.status} ${statusMessage(r)}`);
  };
  const arch = /** @type {Record<string, string>} */ ({ x64: 'amd64', arm64: 'arm64', arm: 'arm' })[process.arch] ?? process.arch;
  /** @type {Record<string, string>} */
  const labels = { 'beta.kubernetes.io/arch': arch, 'beta.kubernetes.io/instance-type': 'k3s', 'beta.kubernetes.io/os': 'linux', 'kubernetes.io/arch': arch, 'kubernetes.io/hostname': nodeName, 'kubernetes.io/os': 'linux', 'node.kubernetes.io/instance-type': 'k3s' };
  for (const l of s.nodeLabels) {
    const i = l.indexOf('=');
    labels[i < 0 ? l : l.slice(0, i)] = i < 0 ? '' : l.slice(i + 1);
  }
  const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const ips = s.nodeIps.length ? s.nodeIps : ['127.0.0.1'];
  const conditions = (/** @type {boolean} */ ready) => [
    { type: 'MemoryPressure', status: 'False', lastHeartbeatTime: now(), lastTransitionTime: now(), reason: 'KubeletHasSufficientMemory', message: 'kubelet has sufficient memory available' },
    { type: 'DiskPressure', status: 'False', lastHeartbeatTime: now(), lastTransitionTime: now(), reason: 'KubeletHasNoDiskPressure', message: 'kubelet has no disk pressure' },
    { type: 'PIDPressure', status: 'False', lastHeartbeatTime: now(), lastTransitionTime: now(), reason: 'KubeletHasSufficientPID', message: 'kubelet has sufficient PID available' },
    ready
      ? { type: 'Ready', status: 'True', lastHeartbeatTime: now(), lastTransitionTime: now(), reason: 'KubeletReady', message: 'kubelet is posting ready status' }
      : { type: 'Ready', status: 'False', lastHeartbeatTime: now(), lastTransitionTime: now(), reason: 'KubeletNotReady', message: 'container runtime status check may not have completed yet' },
  ];
  const nodeBody = {
    apiVersion: 'v1', kind: 'Node',
    metadata: { name: nodeName, labels, annotations: { 'node.alpha.kubernetes.io/ttl': '0', 'volumes.kubernetes.io/controller-managed-attach-detach': 'true', 'k3s.io/node-args': JSON.stringify(['agent']) } },
    spec: {},
    status: {
      conditions: conditions(false),
      addresses: [...ips.map((ip) => ({ type: 'InternalIP', address: ip })), { type: 'Hostname', address: nodeName }],
      capacity: { cpu: '2', memory: '2Gi', pods: '110' }, allocatable: { cpu: '2', memory: '2Gi', pods: '110' },
      nodeInfo: { kubeletVersion: K3S_VERSION, kubeProxyVersion: K3S_VERSION, operatingSystem: 'linux', architecture: arch, containerRuntimeVersion: 'dev-agent://0', osImage: 'k3s-enroll dev agent', kernelVersion: '', machineID: '', systemUUID: '', bootID: '' },
    },
  };
  const created = await api('/api/v1/nodes', 'POST', nodeBody);
  if (created.status === 409) {
    // Already registered (a restart): reconcile the labels the agent was given, as the kubelet does.
    const patched = await api(`/api/v1/nodes/${nodeName}`, 'PATCH', { metadata: { labels } }, 'application/strategic-merge-patch+json');
    if (patched.status !== 200) refuse(patched, `Unable to register node "${nodeName}" with API server`);
  } else if (created.status !== 201) refuse(created, `Unable to register node "${nodeName}" with API server`);
  io.log('info', `Successfully registered node ${nodeName}`);

  const nodeUid = JSON.parse((await api(`/api/v1/nodes/${nodeName}`, 'GET')).text)?.metadata?.uid;
  const setReady = async () => {
    const r = await api(`/api/v1/nodes/${nodeName}/status`, 'PATCH', { status: { conditions: conditions(true) } }, 'application/strategic-merge-patch+json');
    if (r.status !== 200) refuse(r, 'Error updating node status');
  };
  const LEASE = `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${nodeName}`;
  const renewLease = async () => {
    const renewTime = new Date().toISOString().replace('Z', '000Z');
    const cur = await api(LEASE, 'GET');
    let r;
    if (cur.status === 404) {
      r = await api('/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', 'POST', { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: nodeName, namespace: 'kube-node-lease', ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: nodeName, uid: nodeUid }] }, spec: { holderIdentity: nodeName, leaseDurationSeconds: 40, renewTime } });
    } else {
      const lease = JSON.parse(cur.text);
      r = await api(LEASE, 'PUT', { ...lease, spec: { ...lease.spec, holderIdentity: nodeName, leaseDurationSeconds: 40, renewTime } });
    }
    if (r.status !== 200 && r.status !== 201) refuse(r, 'failed to renew lease');
  };
  await setReady();
  await renewLease();
  const check = JSON.parse((await api(`/api/v1/nodes/${nodeName}`, 'GET')).text);
  const ready = check?.status?.conditions?.some((/** @type {any} */ c) => c.type === 'Ready' && c.status === 'True') === true;
  if (s.once) return { node: nodeName, ready };
  io.log('info', `Node ${nodeName} is Ready; renewing its Lease every ${s.heartbeatSeconds}s until SIGTERM`);
  let beats = 0;
  while (!io.signal?.aborted) {
    await sleep(s.heartbeatSeconds * 1000);
    if (io.signal?.aborted) break;
    try {
      await renewLease();
      if (++beats % 4 === 0) await setReady();
    } catch (err) {
      io.log('error', String(/** @type {Error} */ (err).message));
    }
  }
  return { node: nodeName, ready };
}

/** The message of a metav1.Status body, else the text. @param {Res} r */
function statusMessage(r) {
  try {
    return JSON.parse(r.text).message ?? r.text;
  } catch {
    return r.text.trim();
  }
}
