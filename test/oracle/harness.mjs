// @ts-check
// startOracle: a real control plane on free loopback ports from the binary test/oracle/build.mjs
// builds — etcd, kube-apiserver configured the way k3s configures its own (no anonymous auth,
// bootstrap-token authenticator, Node,RBAC, NodeRestriction) and the controller manager's token
// cleaner and root-ca-cert-publisher — with a generated CA, and the k3s-enroll service accounts
// and RBAC of docs/real-cluster.md. It hands back the same handle as startDevCluster (url, caFile,
// caPem, serviceAccountToken, readonlyServiceAccountToken, close) plus an admin token.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { join } from 'node:path';

/** @returns {Promise<number>} */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

/**
 * @param {string} base @param {string} caPem @param {string} token @param {string} method @param {string} path @param {unknown} [body]
 * @returns {Promise<{ status: number, json: any, text: string }>}
 */
export function apiCall(base, caPem, token, method, path, body) {
  const u = new URL(path, base);
  const data = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request({ hostname: u.hostname, port: u.port, path: u.pathname + u.search, method, ca: caPem, headers: { authorization: `Bearer ${token}`, ...(data ? { 'content-type': 'application/json' } : {}) } }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => {
        let json = null;
        try {
          json = JSON.parse(text);
        } catch {}
        resolve({ status: res.statusCode ?? 0, json, text });
      });
    });
    req.on('error', reject);
    req.end(data);
  });
}

/**
 * k3s's layout: a server CA (one self-signed EC P-256 cert, whose bytes the K10 hash covers) that
 * signs the serving cert, a separate client CA `k3s-client-ca@<unix>` that client certificates
 * (nodes, admin) are signed by, and a service-account key pair. Same file names as the dev
 * cluster's <stateDir>/tls, so a test signs a client certificate the same way for both.
 * @param {string} dir
 */
function makePki(dir) {
  /** @param {string[]} args */
  const ossl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const now = Math.floor(Date.now() / 1000);
  for (const [name, cn] of [['server-ca', 'k3s-server-ca'], ['client-ca', 'k3s-client-ca']]) {
    ossl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`);
    ossl('req', '-x509', '-new', '-key', `${name}.key`, '-out', `${name}.crt`, '-days', '3650', '-subj', `/CN=${cn}@${now}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign', '-addext', 'subjectKeyIdentifier=hash');
  }
  ossl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'serving.key');
  ossl('req', '-new', '-key', 'serving.key', '-out', 'serving.csr', '-subj', '/CN=kube-apiserver');
  writeFileSync(join(dir, 'serving.ext'), 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,IP:127.0.0.1,IP:10.43.0.1\n');
  ossl('x509', '-req', '-in', 'serving.csr', '-CA', 'server-ca.crt', '-CAkey', 'server-ca.key', '-CAcreateserial', '-out', 'serving.crt', '-days', '3650', '-extfile', 'serving.ext', '-sha256');
  ossl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'service.key');
  ossl('ec', '-in', 'service.key', '-pubout', '-out', 'service.pub');
}

/**
 * The YAML documents of docs/real-cluster.md whose kind passes `keep`, as one multi-document YAML.
 * @param {(kind: string) => boolean} keep
 */
export function docsManifests(keep) {
  const md = readFileSync(new URL('../../docs/real-cluster.md', import.meta.url), 'utf8');
  const docs = [...md.matchAll(/```yaml\n([\s\S]*?)```/g)].flatMap((m) => (m[1] ?? '').split(/^---$/m));
  return docs.filter((d) => keep(/^kind:\s*(\S+)/m.exec(d)?.[1] ?? '')).join('\n---\n');
}

/**
 * @param {string} bin @param {string[]} args @param {string} logFile
 * @returns {{ child: import('node:child_process').ChildProcess, log: () => string }}
 */
function start(bin, args, logFile) {
  let out = '';
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const add = (/** @type {Buffer} */ d) => {
    out += d.toString();
    if (out.length > 200_000) out = out.slice(-100_000);
  };
  child.stdout?.on('data', add);
  child.stderr?.on('data', add);
  child.on('exit', () => writeFileSync(logFile, out));
  return { child, log: () => out };
}

/** @param {import('node:child_process').ChildProcess} child */
function stop(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(undefined);
    child.once('exit', () => resolve(undefined));
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 5000).unref();
  });
}

/**
 * @param {{ binary: string, stateDir: string, log?: (line: string) => void, timeoutMs?: number, admissionPolicy?: boolean }} options
 */
export async function startOracle({ binary, stateDir, log = () => {}, timeoutMs = 120_000, admissionPolicy = false }) {
  const t0 = Date.now();
  const tls = join(stateDir, 'tls');
  mkdirSync(tls, { recursive: true, mode: 0o700 });
  makePki(tls);
  const caFile = join(tls, 'server-ca.crt');
  const caPem = readFileSync(caFile, 'utf8');
  const adminToken = randomBytes(24).toString('hex');
  // --token-auth-file: one static admin credential (system:masters) for setting the cluster up.
  writeFileSync(join(stateDir, 'tokens.csv'), `${adminToken},oracle-admin,oracle-admin,system:masters\n`, { mode: 0o600 });
  const [etcdClient, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort()];
  const url = `https://127.0.0.1:${apiPort}`;
  /** @type {Array<import('node:child_process').ChildProcess>} */
  const children = [];
  const close = async () => {
    for (const c of children.reverse()) await stop(c);
  };
  try {
    const etcd = start(binary, ['etcd', '--name=oracle', `--data-dir=${join(stateDir, 'etcd')}`, `--listen-client-urls=http://127.0.0.1:${etcdClient}`, `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`, `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`, `--initial-cluster=oracle=http://127.0.0.1:${etcdPeer}`,
      '--unsafe-no-fsync', '--log-level=warn'], join(stateDir, 'etcd.log'));
    children.push(etcd.child);
    // The flags k3s passes to its embedded kube-apiserver that matter to what k3s-enroll touches.
    const api = start(binary, ['kube-apiserver', `--etcd-servers=http://127.0.0.1:${etcdClient}`, '--bind-address=127.0.0.1', '--advertise-address=127.0.0.1', `--secure-port=${apiPort}`,
      `--cert-dir=${join(stateDir, 'cert-dir')}`, `--tls-cert-file=${join(tls, 'serving.crt')}`, `--tls-private-key-file=${join(tls, 'serving.key')}`, `--client-ca-file=${join(tls, 'client-ca.crt')}`,
      '--anonymous-auth=false', '--enable-bootstrap-token-auth=true', '--authorization-mode=Node,RBAC', '--enable-admission-plugins=NodeRestriction',
      `--token-auth-file=${join(stateDir, 'tokens.csv')}`, '--service-account-issuer=https://kubernetes.default.svc.cluster.local', `--service-account-key-file=${join(tls, 'service.pub')}`,
      `--service-account-signing-key-file=${join(tls, 'service.key')}`, '--api-audiences=https://kubernetes.default.svc.cluster.local,k3s', '--service-cluster-ip-range=10.43.0.0/16',
      '--allow-privileged=true', '--profiling=false', '--storage-backend=etcd3', '--v=0'], join(stateDir, 'kube-apiserver.log'));
    children.push(api.child);
    const admin = (/** @type {string} */ m, /** @type {string} */ p, /** @type {unknown} */ b) => apiCall(url, caPem, adminToken, m, p, b);
    for (;;) {
      if (api.child.exitCode !== null) throw new Error(`kube-apiserver exited: ${api.log().slice(-3000)}`);
      if (etcd.child.exitCode !== null) throw new Error(`etcd exited: ${etcd.log().slice(-3000)}`);
      if (Date.now() - t0 > timeoutMs) throw new Error(`kube-apiserver not ready in ${timeoutMs} ms: ${api.log().slice(-3000)}`);
      const r = await admin('GET', '/readyz').catch(() => null);
      if (r?.status === 200) break;
      await new Promise((res) => setTimeout(res, 250));
    }
    log(`oracle: kube-apiserver ready at ${url} in ${Date.now() - t0} ms`);
    const kubeconfig = join(stateDir, 'admin.kubeconfig');
    writeFileSync(kubeconfig, JSON.stringify({ apiVersion: 'v1', kind: 'Config', clusters: [{ name: 'oracle', cluster: { server: url, 'certificate-authority': caFile } }],
      users: [{ name: 'admin', user: { token: adminToken } }], contexts: [{ name: 'oracle', context: { cluster: 'oracle', user: 'admin' } }], 'current-context': 'oracle' }), { mode: 0o600 });
    const ctl = start(binary, ['controllers', `--kubeconfig=${kubeconfig}`, `--root-ca-file=${caFile}`], join(stateDir, 'controllers.log'));
    children.push(ctl.child);

    // docs/real-cluster.md, applied for real with kubectl: its Namespace, ServiceAccount, Roles and
    // bindings always; its ValidatingAdmissionPolicies only when asked (the dev cluster does not
    // emulate them, so the differential suites run without). Plus a read-only account.
    const kinds = ['Namespace', 'ServiceAccount', 'Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding', ...(admissionPolicy ? ['ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding'] : [])];
    kubectlApply(kubeconfig, docsManifests((k) => kinds.includes(k)));
    kubectlApply(kubeconfig, READONLY_RBAC);
    const must = async (/** @type {string} */ m, /** @type {string} */ p, /** @type {unknown} */ b) => {
      const r = await admin(m, p, b);
      if (r.status >= 300) throw new Error(`oracle setup: ${m} ${p} → ${r.status} ${r.text}`);
      return r;
    };
    // TokenRequest (served by the API server itself; the legacy token Secret needs the controller manager's token controller).
    const tokenFor = async (/** @type {string} */ name) => (await must('POST', `/api/v1/namespaces/k3s-enroll/serviceaccounts/${name}/token`, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 86400 } })).json.status.token;
    const serviceAccountToken = await tokenFor('k3s-enroll');
    const readonlyServiceAccountToken = await tokenFor('readonly');
    if (admissionPolicy) {
      // Policies take effect once the API server's admission informers have loaded and compiled
      // them: wait until a server-side dry run of a plain Secret by the service is denied.
      for (;;) {
        const r = await apiCall(url, caPem, serviceAccountToken, 'POST', '/api/v1/namespaces/kube-system/secrets?dryRun=All', { metadata: { name: 'policy-probe' } });
        if (r.status === 422 || r.status === 403) break;
        if (Date.now() - t0 > timeoutMs) throw new Error(`the admission policy of docs/real-cluster.md never took effect: a dry-run create answered ${r.status} ${r.text}`);
        await new Promise((res) => setTimeout(res, 250));
      }
    }
    // The root-ca-cert-publisher has run once kube-root-ca.crt exists in kube-system.
    for (;;) {
      if ((await admin('GET', '/api/v1/namespaces/kube-system/configmaps/kube-root-ca.crt')).status === 200) break;
      if (ctl.child.exitCode !== null) throw new Error(`controllers exited: ${ctl.log().slice(-3000)}`);
      if (Date.now() - t0 > timeoutMs) throw new Error('kube-root-ca.crt was not published in time');
      await new Promise((res) => setTimeout(res, 200));
    }
    log(`oracle: set up in ${Date.now() - t0} ms`);
    return { kind: /** @type {const} */ ('kube-apiserver'), stateDir, url, caFile, caPem, adminToken, kubeconfig, serviceAccountToken, readonlyServiceAccountToken, close };
  } catch (e) {
    await close();
    throw e;
  }
}

const READONLY_RBAC = `apiVersion: v1
kind: ServiceAccount
metadata: { name: readonly, namespace: k3s-enroll }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: { name: secrets-reader, namespace: kube-system }
rules: [{ apiGroups: [""], resources: ["secrets"], verbs: ["get", "list"] }]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: secrets-reader, namespace: kube-system }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: Role, name: secrets-reader }
subjects: [{ kind: ServiceAccount, name: readonly, namespace: k3s-enroll }]
`;

/** @param {string} kubeconfig @param {string} yaml */
function kubectlApply(kubeconfig, yaml) {
  execFileSync('kubectl', ['--kubeconfig', kubeconfig, 'apply', '-f', '-'], { input: yaml, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, KUBECONFIG: kubeconfig } });
}
