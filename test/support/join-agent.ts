// Joins a node to the dev cluster from a k3s config as `k3s agent` would: `npm run dev-agent
// --once` where the dev cluster provides it, else the join's cluster-visible steps done here
// (reference/k3s-join.md §3 route 5 with the token and node password → client certificate →
// the kubelet registers its Node and reports Ready). Either way the data dir keeps the node
// password and the kubelet's client certificate, as k3s does.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { callCluster, makeCsr } from './cluster-call.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const run = promisify(execFile);

export const devAgentAvailable = (): boolean => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts?: Record<string, string> };
  return Boolean(pkg.scripts?.['dev-agent']);
};

function readConfig(path: string): { server: string; token: string; nodeName: string } {
  const text = readFileSync(path, 'utf8');
  const get = (k: string) => text.match(new RegExp(`^${k}:\\s*"?([^"\\n]*)"?\\s*$`, 'm'))?.[1] ?? '';
  return { server: get('server'), token: get('token'), nodeName: get('node-name') };
}

export interface Joined {
  readonly nodeName: string;
  readonly cert: string;
  readonly key: string;
  readonly via: 'dev-agent' | 'test-agent';
}

export async function joinAgent(configPath: string, dataDir: string, caPem: string, env: NodeJS.ProcessEnv = process.env): Promise<Joined> {
  const cfg = readConfig(configPath);
  const certFile = join(dataDir, 'agent', 'client-kubelet.crt');
  const keyFile = join(dataDir, 'agent', 'client-kubelet.key');
  if (devAgentAvailable()) {
    await run('npm', ['run', '--silent', 'dev-agent', '--', '--config', configPath, '--data-dir', dataDir, '--once'], { cwd: ROOT, env, timeout: 60_000 });
    return { nodeName: cfg.nodeName, cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8'), via: 'dev-agent' };
  }
  mkdirSync(join(dataDir, 'agent'), { recursive: true });
  const pwFile = join(dataDir, 'password');
  if (!existsSync(pwFile)) writeFileSync(pwFile, randomBytes(16).toString('hex'), { mode: 0o600 });
  const password = readFileSync(pwFile, 'utf8');
  const bootstrap = cfg.token.includes('::') ? cfg.token.split('::')[1]! : cfg.token;
  const { key, csrDer } = makeCsr(`system:node:${cfg.nodeName}`);
  const r = await callCluster(cfg.server, caPem, 'POST', '/v1-k3s/client-kubelet.crt', { bearer: bootstrap, body: csrDer, contentType: 'application/octet-stream', headers: { 'K3s-Node-Name': cfg.nodeName, 'K3s-Node-Password': password } });
  if (r.status !== 200) throw new Error(`client-kubelet.crt: ${r.status} ${r.text}`);
  const cert = r.text;
  writeFileSync(certFile, cert);
  writeFileSync(keyFile, key, { mode: 0o600 });
  const kubelet = { cert, key };
  const created = await callCluster(cfg.server, caPem, 'POST', '/api/v1/nodes', { ...kubelet, body: { apiVersion: 'v1', kind: 'Node', metadata: { name: cfg.nodeName, labels: { 'kubernetes.io/hostname': cfg.nodeName, 'kubernetes.io/os': 'linux' } } } });
  if (created.status !== 201 && created.status !== 409) throw new Error(`create node: ${created.status} ${created.text}`);
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const ready = await callCluster(cfg.server, caPem, 'PATCH', `/api/v1/nodes/${cfg.nodeName}/status`, {
    ...kubelet,
    contentType: 'application/strategic-merge-patch+json',
    body: { status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status', lastHeartbeatTime: now, lastTransitionTime: now }] } },
  });
  if (ready.status !== 200) throw new Error(`node status: ${ready.status} ${ready.text}`);
  return { nodeName: cfg.nodeName, cert, key, via: 'test-agent' };
}
