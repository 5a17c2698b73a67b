// The join watch end to end, on npm start's stack (dev cluster + wrangler dev) and on the Deno
// entry: enroll.sh writes node-name, the agent joins, the token is consumed within seconds (the
// delay is printed), the machine reads joined with its Node, the Node carries the attested labels
// the kubelet cannot set itself; a re-imaged machine rejoins under its name; a Node joined with a
// plain /v1/tokens token is listed unattested and quarantined; a Node squatted under a machine's
// name before it enrolled is a name conflict, never its join; an unjoined machine expires.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callCluster, clientCert } from '../support/cluster-call.ts';
import { joinAgent } from '../support/join-agent.ts';
import { spawnUntilJson, type Started } from '../support/spawn.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const PREFIX = 'k3s-enroll.node-restriction.kubernetes.io';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const freePort = () =>
  new Promise<number>((r) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => r(p));
    });
  });

interface Stack {
  service: string;
  adminToken: string;
  clusterUrl: string;
  caPem: string;
  clusterStateDir: string;
  controlToken: string;
  stop(): Promise<void>;
}

async function startWorkers(dir: string): Promise<Stack> {
  const port = await freePort();
  const started: Started<{ ready: boolean }> = await spawnUntilJson(process.execPath, ['scripts/start.mjs'], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), K3S_ENROLL_DEV_DIR: dir, CLUSTER_API_URL: '', K3S_SERVER_URL: '', QUARANTINE_UNATTESTED: 'true', NODE_WATCH_TIMEOUT_SECONDS: '15' },
    timeoutMs: 90_000,
  });
  const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as { adminToken: string; clusterUrl: string; caFile: string };
  return { service: `http://127.0.0.1:${port}`, adminToken: state.adminToken, clusterUrl: state.clusterUrl, caPem: readFileSync(state.caFile, 'utf8'), clusterStateDir: join(dir, 'cluster'), controlToken: (JSON.parse(readFileSync(join(dir, 'cluster', 'cluster.json'), 'utf8')) as { controlToken: string }).controlToken, stop: () => started.stop() };
}

async function startDeno(dir: string): Promise<Stack> {
  // @ts-expect-error: plain JavaScript module with JSDoc types
  const { startDevCluster } = await import('../../scripts/dev-cluster/index.mjs');
  const clusterStateDir = join(dir, 'cluster');
  const cluster = await startDevCluster({ port: 0, stateDir: clusterStateDir });
  const adminToken = 'deno-admin-token-0123456789';
  const deno: Started<{ listening: string }> = await spawnUntilJson(resolve(ROOT, 'node_modules/.bin/deno'), ['run', '--unstable-kv', '--allow-net=127.0.0.1', '--allow-env', '--cached-only', 'src/deno.ts'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      DENO_NO_UPDATE_CHECK: '1',
      DENO_DIR: resolve(ROOT, 'node_modules/.deno-cache'),
      PORT: '0',
      DENO_KV_PATH: ':memory:',
      DENO_CERT: cluster.caFile,
      K3S_SERVER_URL: cluster.url,
      CLUSTER_API_URL: cluster.url,
      CLUSTER_SA_TOKEN: cluster.serviceAccountToken,
      CLUSTER_CA_PEM: cluster.caPem,
      ADMIN_TOKEN: adminToken,
      QUARANTINE_UNATTESTED: 'true',
      NODE_WATCH_TIMEOUT_SECONDS: '15',
      SWEEP_INTERVAL_MS: '2000',
    },
    timeoutMs: 60_000,
  });
  return {
    service: deno.ready.listening,
    adminToken,
    clusterUrl: cluster.url,
    caPem: cluster.caPem,
    clusterStateDir,
    controlToken: cluster.controlToken,
    stop: async () => {
      await deno.stop();
      await cluster.close();
    },
  };
}

function scenario(name: string, start: (dir: string) => Promise<Stack>) {
  describe(`join watch on ${name}`, () => {
    const dir = mkdtempSync(join(tmpdir(), `k3s-enroll-join-${name}-`));
    let s: Stack;
    let admin: { cert: string; key: string };
    const api = (method: string, path: string, body?: unknown) =>
      fetch(`${s.service}${path}`, { method, headers: { authorization: `Bearer ${s.adminToken}`, 'content-type': 'application/json' }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    const kube = (method: string, path: string, o: Parameters<typeof callCluster>[4] = {}) => callCluster(s.clusterUrl, s.caPem, method, path, { ...admin, ...o });
    const whoami = (bootstrap: string) => callCluster(s.clusterUrl, s.caPem, 'POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', { bearer: bootstrap, body: {} });
    const enrollSh = (env: Record<string, string>) =>
      new Promise<{ code: number; stderr: string }>((res) =>
        execFile('sh', [join(ROOT, 'scripts/enroll.sh'), 'code'], { env: { ...process.env, ENROLL_URL: s.service, ...env } }, (err, _o, stderr) => res({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr })),
      );
    const machine = async (id: string) => (await (await api('GET', `/v1/machines/${id}`)).json()) as { state: string; node: { name: string; uid: string; joinedAt: string } | null; liveToken: { id: string } | null };
    async function until<T>(what: string, f: () => Promise<T | null | undefined | false>, timeoutMs = 30_000): Promise<T> {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const v = await f();
        if (v) return v;
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
        await sleep(100);
      }
    }
    const enrollMachine = async (id: string, code: string, body: Record<string, unknown> = {}) => {
      expect((await api('PUT', `/v1/machines/${id}`, { enrollmentCode: code, ...body })).status).toBeLessThan(300);
      const config = join(dir, id, `config-${code.slice(-4)}.yaml`);
      const r = await enrollSh({ MACHINE_ID: id, ENROLL_CODE: code, K3S_CONFIG: config });
      expect(r.code, r.stderr).toBe(0);
      const text = readFileSync(config, 'utf8');
      return { config, text, bootstrap: /^token: "K10[0-9a-f]*::([^"]+)"$/m.exec(text)![1]! };
    };

    beforeAll(async () => {
      s = await start(dir);
      admin = clientCert(s.clusterStateDir, 'join-watch-test-admin', 'system:masters');
    }, 150_000);
    afterAll(async () => {
      await s?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('enroll.sh writes node-name; the join consumes the token within seconds; joined with its Node and the attested labels', async () => {
      const m = await enrollMachine('jw-edge-1', 'jw-edge-1-code-0123456789', { labels: { site: 'berlin', 'example.com/rack': 'r7' } });
      expect(m.text).toMatch(/^node-name: "jw-edge-1"$/m);
      expect((await whoami(m.bootstrap)).status).toBe(201);
      const tokenId = m.bootstrap.split('.')[0]!;
      const joinP = joinAgent(m.config, join(dir, 'jw-edge-1', 'data'), s.caPem);
      const nodeAt = await until('the Node', async () => ((await kube('GET', '/api/v1/nodes/jw-edge-1')).status === 200 ? Date.now() : null));
      const goneAt = await until('the token Secret to go', async () => ((await kube('GET', `/api/v1/namespaces/kube-system/secrets/bootstrap-token-${tokenId}`)).status === 404 ? Date.now() : null));
      const joined = await joinP;
      console.log(`[join-watch ${name}] token consumed ${goneAt - nodeAt} ms after the Node appeared (agent: ${joined.via})`);
      expect(goneAt - nodeAt).toBeLessThan(5_000);
      expect((await whoami(m.bootstrap)).status).toBe(401);
      const v = await until('joined', async () => ((await machine('jw-edge-1')).state === 'joined' ? machine('jw-edge-1') : null));
      const node = (await kube('GET', '/api/v1/nodes/jw-edge-1')).json;
      expect(v).toMatchObject({ state: 'joined', liveToken: null, node: { name: 'jw-edge-1', uid: node.metadata.uid } });
      const labels = await until('labels', async () => {
        const l = (await kube('GET', '/api/v1/nodes/jw-edge-1')).json.metadata.labels as Record<string, string>;
        return l[`${PREFIX}/method`] ? l : null;
      });
      expect(labels).toMatchObject({ [`${PREFIX}/site`]: 'berlin', [`${PREFIX}/method`]: 'code' });
      expect(Object.keys(labels).some((k) => k.includes('rack'))).toBe(false);
      // The node's own credential cannot forge (or change) them: NodeRestriction.
      const forged = await callCluster(s.clusterUrl, s.caPem, 'PATCH', '/api/v1/nodes/jw-edge-1', { cert: joined.cert, key: joined.key, contentType: 'application/merge-patch+json', body: { metadata: { labels: { [`${PREFIX}/site`]: 'paris' } } } });
      expect(forged.status).toBe(403);
      const audit = (await (await api('GET', '/v1/audit?limit=100')).json()) as { items: Array<{ event: string; machineId: string }> };
      expect(audit.items.filter((e) => e.event === 'machine.joined' && e.machineId === 'jw-edge-1')).toHaveLength(1);
    }, 90_000);

    it('a re-imaged machine (fresh data dir) re-enrolls and rejoins under its name; the labels stay', async () => {
      const before = await machine('jw-edge-1');
      const m = await enrollMachine('jw-edge-1', 'jw-edge-1-code-reimage-0123456789', { labels: { site: 'berlin', 'example.com/rack': 'r7' } });
      expect((await machine('jw-edge-1')).state).toBe('enrolled');
      // On Workers the audit record reaches D1 through the machine object's outbox, a moment after the answer.
      const reset = await until('the node.password_reset audit record', async () => {
        const audit = (await (await api('GET', '/v1/audit?limit=100')).json()) as { items: Array<{ event: string; machineId: string; outcome: string }> };
        return audit.items.find((e) => e.event === 'node.password_reset' && e.machineId === 'jw-edge-1');
      }, 10_000);
      expect(reset).toMatchObject({ outcome: 'success' });
      await joinAgent(m.config, join(dir, 'jw-edge-1', 'data-reimaged'), s.caPem);
      const v = await until('rejoined', async () => {
        const x = await machine('jw-edge-1');
        return x.state === 'joined' ? x : null;
      });
      expect(v.node!.uid).toBe(before.node!.uid);
      expect(v.node!.joinedAt >= before.node!.joinedAt).toBe(true);
      expect((await whoami(m.bootstrap)).status).toBe(401);
      expect((await kube('GET', '/api/v1/nodes/jw-edge-1')).json.metadata.labels).toMatchObject({ [`${PREFIX}/site`]: 'berlin', [`${PREFIX}/method`]: 'code' });
    }, 90_000);

    it('a refused Node patch is audited and retried by the reconciliation; the join is recorded once', async () => {
      const m = await enrollMachine('jw-patch-1', 'jw-patch-1-code-0123456789', { labels: { site: 'lyon' } });
      await joinAgent(m.config, join(dir, 'jw-patch-1', 'data'), s.caPem);
      const labelled = async () => (await kube('GET', '/api/v1/nodes/jw-patch-1')).json.metadata.labels?.[`${PREFIX}/site`] === 'lyon';
      await until('labels', labelled);
      // Every PATCH of the Node is refused for now. An operator strips the labels with a PUT (not
      // refused): the watch, which may restore them the moment they go (the name is still awaited),
      // and the reconciliation both fail.
      const faults = (method: 'POST' | 'DELETE', body?: unknown) => callCluster(s.clusterUrl, s.caPem, method, '/__dev/faults', { headers: { 'x-dev-cluster-control': s.controlToken }, ...(body ? { body } : {}) });
      expect((await faults('POST', { method: 'PATCH', pathPrefix: '/api/v1/nodes/jw-patch-1', mode: 'status', status: 403, times: 1000 })).status).toBe(201);
      const node = (await kube('GET', '/api/v1/nodes/jw-patch-1')).json;
      const { [`${PREFIX}/site`]: _site, [`${PREFIX}/method`]: _method, ...kept } = node.metadata.labels;
      expect((await kube('PUT', '/api/v1/nodes/jw-patch-1', { body: { ...node, metadata: { ...node.metadata, labels: kept } } })).status).toBe(200);
      const refused = (await (await api('POST', '/v1/nodes/reconcile')).json()) as { errors: number; labelled: number };
      expect(refused).toMatchObject({ labelled: 0 });
      expect(refused.errors).toBeGreaterThanOrEqual(1);
      expect(await labelled()).toBe(false);
      // The cluster accepts patches again: the reconciliation (or the watch's own retry) restores them.
      await faults('DELETE');
      const retried = (await (await api('POST', '/v1/nodes/reconcile')).json()) as { errors: number; labelled: number };
      expect(retried.errors).toBe(0);
      await until('labels restored', labelled);
      const audit = (await (await api('GET', '/v1/audit?limit=200')).json()) as { items: Array<{ event: string; machineId: string; outcome: string; code: string | null; reason: string | null }> };
      const mine = audit.items.filter((e) => e.machineId === 'jw-patch-1');
      expect(mine.find((e) => e.event === 'node.labelled' && e.outcome === 'failure')).toMatchObject({ code: 'upstream_error' });
      expect(mine.filter((e) => e.event === 'machine.joined')).toHaveLength(1);
      expect((await machine('jw-patch-1')).state).toBe('joined');
    }, 60_000);

    it('a node joined with a plain /v1/tokens token is listed with machineId null and, with quarantine on, tainted', async () => {
      const t = (await (await api('POST', '/v1/tokens', { ttl: '10m', description: 'plain' })).json()) as { token: string };
      const config = join(dir, 'stray.yaml');
      writeFileSync(config, `server: "${s.clusterUrl}"\ntoken: "${t.token}"\nnode-name: "jw-stray-1"\n`);
      await joinAgent(config, join(dir, 'stray-data'), s.caPem);
      const list = (await (await api('GET', '/v1/nodes')).json()) as { items: Array<{ name: string; machineId: string | null; attested: boolean; quarantined: boolean }> };
      expect(list.items.find((n) => n.name === 'jw-stray-1')).toMatchObject({ machineId: null, attested: false, quarantined: false });
      expect(list.items.find((n) => n.name === 'jw-edge-1')).toMatchObject({ machineId: 'jw-edge-1', attested: true, quarantined: false });
      const summary = (await (await api('POST', '/v1/nodes/reconcile')).json()) as { unaccountedNodes: string[]; quarantined: number };
      expect(summary.unaccountedNodes).toContain('jw-stray-1');
      expect(summary.quarantined).toBeGreaterThanOrEqual(1);
      const node = (await kube('GET', '/api/v1/nodes/jw-stray-1')).json;
      expect(node.spec.taints).toContainEqual({ key: 'k3s-enroll.io/unattested', value: 'true', effect: 'NoSchedule' });
      const after = (await (await api('GET', '/v1/nodes')).json()) as { items: Array<{ name: string; quarantined: boolean }> };
      expect(after.items.find((n) => n.name === 'jw-stray-1')!.quarantined).toBe(true);
      expect(after.items.find((n) => n.name === 'jw-edge-1')!.quarantined).toBe(false);
    }, 60_000);

    it('a Node squatted under the machine\'s name before it enrolled is a name conflict: not adopted when the machine\'s agent re-registers it; audited; tainted; listed unattested', async () => {
      // Another join credential registers jw-squat-1 first (k3s issues it system:node:jw-squat-1).
      const t = (await (await api('POST', '/v1/tokens', { ttl: '10m', description: 'squatter' })).json()) as { token: string };
      const squatConfig = join(dir, 'squat.yaml');
      writeFileSync(squatConfig, `server: "${s.clusterUrl}"\ntoken: "${t.token}"\nnode-name: "jw-squat-1"\n`);
      await joinAgent(squatConfig, join(dir, 'squat-data'), s.caPem);
      const squatted = (await kube('GET', '/api/v1/nodes/jw-squat-1')).json.metadata as { uid: string; creationTimestamp: string };
      const squatUid = squatted.uid;
      // A Node created within the clock tolerance (5 s) of the mint counts as created after it
      // (the documented residual race), so the machine enrolls once the Node is clearly older.
      const olderAt = Date.parse(squatted.creationTimestamp) + 5_000 + 2_000;
      await until('the squatted Node to be older than the clock tolerance', async () => Date.now() > olderAt);
      // The machine enrolls (its node password is reset); its agent registers a new password and
      // reports Ready on that Node: before the fix this counted as the machine's rejoin.
      const m = await enrollMachine('jw-squat-1', 'jw-squat-1-code-0123456789', { labels: { site: 'oslo' } });
      await joinAgent(m.config, join(dir, 'jw-squat-1', 'data'), s.caPem);
      type Audit = { items: Array<{ event: string; machineId: string; outcome: string; code: string | null; tokenId: string | null }> };
      const conflict = await until('machine.join_conflict', async () => ((await (await api('GET', '/v1/audit?limit=200')).json()) as Audit).items.find((e) => e.event === 'machine.join_conflict' && e.machineId === 'jw-squat-1'));
      expect(conflict).toMatchObject({ outcome: 'failure', code: 'join_conflict', tokenId: m.bootstrap.split('.')[0] });
      expect(await machine('jw-squat-1')).toMatchObject({ state: 'enrolled', node: null, liveToken: { id: m.bootstrap.split('.')[0] } });
      expect((await whoami(m.bootstrap)).status).toBe(201); // not consumed
      const node = await until('the quarantine taint', async () => {
        const n = (await kube('GET', '/api/v1/nodes/jw-squat-1')).json;
        return (n.spec?.taints ?? []).some((x: { key: string }) => x.key === 'k3s-enroll.io/unattested') ? n : null;
      });
      expect(node.metadata.uid).toBe(squatUid);
      expect(Object.keys(node.metadata.labels).some((k) => k.startsWith(PREFIX))).toBe(false);
      const list = (await (await api('GET', '/v1/nodes')).json()) as { items: Array<{ name: string; machineId: string | null; attested: boolean; quarantined: boolean }> };
      expect(list.items.find((n) => n.name === 'jw-squat-1')).toMatchObject({ machineId: null, attested: false, quarantined: true });
      const audit = (await (await api('GET', '/v1/audit?limit=200')).json()) as Audit;
      expect(audit.items.filter((e) => e.event === 'machine.join_conflict' && e.machineId === 'jw-squat-1')).toHaveLength(1);
      expect(audit.items.filter((e) => e.event === 'machine.joined' && e.machineId === 'jw-squat-1')).toHaveLength(0);
    }, 90_000);

    it('an enrolled machine that never joins becomes join_expired (1-minute token)', async () => {
      await enrollMachine('jw-never', 'jw-never-code-0123456789', { tokenTtl: '1m' });
      expect((await machine('jw-never')).state).toBe('enrolled');
      await until('join_expired', async () => (await machine('jw-never')).state === 'join_expired', 100_000);
      const audit = (await (await api('GET', '/v1/audit?limit=100')).json()) as { items: Array<{ event: string; machineId: string }> };
      expect(audit.items.find((e) => e.event === 'machine.join_expired' && e.machineId === 'jw-never')).toBeDefined();
    }, 120_000);
  });
}

scenario('workers', startWorkers);
scenario('deno', startDeno);
