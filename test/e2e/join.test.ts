// End to end, as a user tries the join locally: `npm start` → register a machine → scripts/enroll.sh
// (code) writes the k3s config → `npm run dev-agent -- --config <it> --once` → the Node named
// after the machine is Ready (checked with the real kubectl when installed). A wrong CA hash, a
// deleted token and a second machine claiming a taken node name are refused as k3s refuses them
// and leave no Node.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callCluster } from '../support/cluster-call.ts';
import { findKubectl, kubectlRunner } from '../support/kubectl.ts';
import { spawnUntilJson, type Started } from '../support/spawn.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const devDir = mkdtempSync(join(tmpdir(), 'k3s-enroll-join-'));
const found = findKubectl();
if (!found.bin) console.log(`join e2e: kubectl checks skipped (${found.reason}); the API is checked directly`);
let port = 0;
let started: Started<{ ready: boolean }>;
let state: { enrollUrl: string; adminToken: string; clusterUrl: string; caFile: string; serviceAccountToken: string; kubeconfig: string };
let caPem = '';

const freePort = () => new Promise<number>((r) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const p = (s.address() as { port: number }).port;
    s.close(() => r(p));
  });
});
const run = (cmd: string, args: string[], env: Record<string, string> = {}) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((res) =>
    execFile(cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, timeout: 90_000 }, (err, stdout, stderr) => res({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr })),
  );
const devAgent = (...args: string[]) => run('npm', ['run', '--silent', 'dev-agent', '--', ...args]);
const admin = () => ({ authorization: `Bearer ${state.adminToken}`, 'content-type': 'application/json' });
async function enroll(machine: string): Promise<string> {
  const code = `join-code-${machine}-0123456789`;
  expect((await fetch(`http://127.0.0.1:${port}/v1/machines/${machine}`, { method: 'PUT', headers: admin(), body: JSON.stringify({ enrollmentCode: code }) })).status).toBe(201);
  const config = join(devDir, machine, 'config.yaml');
  const r = await run('sh', [join(ROOT, 'scripts/enroll.sh'), 'code'], { ENROLL_URL: `http://127.0.0.1:${port}`, MACHINE_ID: machine, ENROLL_CODE: code, K3S_CONFIG: config });
  expect(r.code, r.stderr).toBe(0);
  return config;
}
const nodeStatus = async (name: string) => (await callCluster(state.clusterUrl, caPem, 'GET', `/api/v1/nodes/${name}`, { bearer: state.serviceAccountToken })).status;
const nodeCount = async () => (await callCluster(state.clusterUrl, caPem, 'GET', '/api/v1/nodes', { bearer: state.serviceAccountToken })).json.items.length as number;

beforeAll(async () => {
  port = await freePort();
  started = await spawnUntilJson<{ ready: boolean }>(process.execPath, ['scripts/start.mjs'], { cwd: ROOT, env: { ...process.env, PORT: String(port), K3S_ENROLL_DEV_DIR: devDir, CLUSTER_API_URL: '', K3S_SERVER_URL: '' }, timeoutMs: 90_000 });
  state = JSON.parse(readFileSync(join(devDir, 'state.json'), 'utf8'));
  caPem = readFileSync(state.caFile, 'utf8');
}, 120_000);
afterAll(async () => {
  await started?.stop();
  rmSync(devDir, { recursive: true, force: true });
});

describe('join end to end on npm start', () => {
  it('npm start writes the admin kubeconfig to state.json and prints a ready kubectl line', () => {
    expect(state.kubeconfig).toBe(join(devDir, 'cluster', 'k3s.yaml'));
    expect(readFileSync(state.kubeconfig, 'utf8')).toContain(`server: ${state.clusterUrl}`);
    expect(started.stdout()).toContain(`  KUBECONFIG=${state.kubeconfig} kubectl -n kube-system get secrets\n`);
  });

  it('register → enroll.sh → dev-agent --once → the Node named after the machine is Ready', async () => {
    const config = await enroll('join-1');
    const r = await devAgent('--config', config, '--data-dir', join(devDir, 'join-1', 'agent'), '--node-name', 'join-1', '--once');
    expect(r.code, r.stderr).toBe(0);
    if (found.bin) {
      const k = await kubectlRunner(found.bin)(['--kubeconfig', state.kubeconfig, 'get', 'node', 'join-1']);
      expect(k.stdout, k.stderr).toMatch(/^NAME\s+STATUS\s+ROLES\s+AGE\s+VERSION\njoin-1\s+Ready\s+<none>\s+\S+\s+v1\.\d+\.\d+\+k3s1\n$/);
    } else {
      const n = await callCluster(state.clusterUrl, caPem, 'GET', '/api/v1/nodes/join-1', { bearer: state.serviceAccountToken });
      expect(n.json.status.conditions.find((c: { type: string }) => c.type === 'Ready').status).toBe('True');
    }
  });

  it('a wrong CA hash in the token → refused before any credential (exit 3, k3s\'s message); no Node', async () => {
    const config = await enroll('join-badca');
    const text = readFileSync(config, 'utf8');
    writeFileSync(config, text.replace(/K10[0-9a-f]{64}::/, `K10${'f'.repeat(64)}::`));
    const r = await devAgent('--config', config, '--data-dir', join(devDir, 'join-badca', 'agent'), '--node-name', 'join-badca', '--once');
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`token CA hash does not match the Cluster CA certificate hash: ${'f'.repeat(64)} != `);
    expect(await nodeStatus('join-badca')).toBe(404);
  });

  it('a deleted token → 401 (exit 5); no Node', async () => {
    const config = await enroll('join-deleted');
    const id = /::([a-z0-9]{6})\./.exec(readFileSync(config, 'utf8'))![1]!;
    const del = await run(process.execPath, ['scripts/k3s-token.mjs', 'delete', id], { K3S_ENROLL_DEV_DIR: devDir });
    expect(del.code, del.stderr).toBe(0);
    const r = await devAgent('--config', config, '--data-dir', join(devDir, 'join-deleted', 'agent'), '--node-name', 'join-deleted', '--once');
    expect(r.code).toBe(5);
    expect(r.stderr).toContain('401 Unauthorized');
    expect(await nodeStatus('join-deleted')).toBe(404);
  });

  it('a second machine claiming the taken node name with another password → 403 (exit 6, k3s\'s answer); no new Node', async () => {
    const config = await enroll('join-2');
    const before = await nodeCount();
    const r = await devAgent('--config', config, '--data-dir', join(devDir, 'join-2', 'agent'), '--node-name', 'join-1', '--once');
    expect(r.code).toBe(6);
    expect(r.stderr).toContain('unable to verify password for node join-1: hash does not match');
    expect(r.stderr).toContain('Node password rejected, duplicate hostname');
    expect(await nodeCount()).toBe(before);
    expect(await nodeStatus('join-2')).toBe(404);
  });
});
