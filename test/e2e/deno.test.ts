// The same app under the real Deno binary (npm package `deno`, offline, --cached-only), over
// 127.0.0.1: the answers must match the in-process app's byte for byte, request id aside.
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.ts';
import { parseConfig } from '../../src/config.ts';
import { silentLogger } from '../../src/http/logger.ts';
import { startEventsReceiver } from '../support/events-receiver.ts';
import { spawnUntilJson, type Started } from '../support/spawn.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const vars = {
  K3S_SERVER_URL: 'https://k3s.example.test:6443',
  CLUSTER_API_URL: 'https://127.0.0.1:1',
  CLUSTER_SA_TOKEN: 'test-sa-token',
  ADMIN_TOKEN: 'test-admin-token-0123456789',
  CLUSTER_CA_HASH: 'a'.repeat(64),
};

let deno: Started<{ listening: string }>;
beforeAll(async () => {
  deno = await spawnUntilJson(resolve(ROOT, 'node_modules/.bin/deno'), ['run', '--unstable-kv', '--allow-net=127.0.0.1', '--allow-env', '--cached-only', 'src/deno.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, DENO_NO_UPDATE_CHECK: '1', DENO_DIR: resolve(ROOT, 'node_modules/.deno-cache'), PORT: '0', DENO_KV_PATH: ':memory:', ...vars },
    timeoutMs: 60_000,
  });
}, 90_000);
afterAll(() => deno?.stop());

const inProcess = createApp({ loadConfig: () => parseConfig(vars), logger: silentLogger });
const strip = (body: string) => body.replace(/"request_id":"[^"]+"/, '"request_id":"-"');

describe('Deno runtime', () => {
  it.each([
    ['GET', '/healthz', undefined],
    ['GET', '/v1/nope', undefined],
    ['POST', '/healthz', 'x'.repeat(70_000)],
  ])('%s %s answers as in-process', async (method, path, body) => {
    const init: RequestInit = { method, body, headers: { 'content-type': 'application/json' } };
    const viaDeno = await fetch(deno.ready.listening + path, init);
    const local = await inProcess.request(path, init);
    expect(viaDeno.status).toBe(local.status);
    expect(viaDeno.headers.get('content-type')).toBe(local.headers.get('content-type'));
    expect(viaDeno.headers.get('cache-control')).toBe('no-store');
    expect(strip(await viaDeno.text())).toBe(strip(await local.text()));
  });

  it('reports misconfiguration by variable name at start', async () => {
    const bad = spawnUntilJson<{ listening: string }>(resolve(ROOT, 'node_modules/.bin/deno'), ['run', '--unstable-kv', '--allow-net=127.0.0.1', '--allow-env', '--cached-only', 'src/deno.ts'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, DENO_NO_UPDATE_CHECK: '1', DENO_DIR: resolve(ROOT, 'node_modules/.deno-cache'), PORT: '0', DENO_KV_PATH: ':memory:' },
      timeoutMs: 60_000,
    });
    const started = await bad;
    try {
      const res = await fetch(`${started.ready.listening}/healthz`);
      expect(res.status).toBe(500);
      expect(await res.json()).toMatchObject({ code: 'misconfigured', variables: expect.arrayContaining(['K3S_SERVER_URL', 'CLUSTER_SA_TOKEN']) });
      expect(started.stderr()).toContain('config.invalid');
    } finally {
      await started.stop();
    }
  }, 90_000);
});

// The full enrollment path on Deno: Deno KV for state, the dev cluster over HTTPS (DENO_CERT).
describe('Deno runtime: enrollment against the dev cluster', () => {
  let cluster: { url: string; caFile: string; caPem: string; serviceAccountToken: string; close(): Promise<void> };
  let denoApp: Started<{ listening: string }>;
  let stateDir = '';
  let receiver: Awaited<ReturnType<typeof startEventsReceiver>>;
  beforeAll(async () => {
    receiver = await startEventsReceiver('deno-events-secret-0123456789');
    // @ts-expect-error: plain JavaScript module with JSDoc types
    const { startDevCluster } = await import('../../scripts/dev-cluster/index.mjs');
    stateDir = mkdtempSync(join(tmpdir(), 'deno-dc-'));
    cluster = await startDevCluster({ port: 0, stateDir });
    denoApp = await spawnUntilJson(resolve(ROOT, 'node_modules/.bin/deno'), ['run', '--unstable-kv', '--allow-net=127.0.0.1', '--allow-env', '--allow-read', '--cached-only', 'src/deno.ts'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, DENO_NO_UPDATE_CHECK: '1', DENO_DIR: resolve(ROOT, 'node_modules/.deno-cache'), PORT: '0', DENO_KV_PATH: ':memory:', DENO_CERT: cluster.caFile, ...vars, CLUSTER_API_URL: cluster.url, CLUSTER_SA_TOKEN: cluster.serviceAccountToken, CLUSTER_CA_PEM: cluster.caPem, CLUSTER_CA_HASH: '', EVENTS_WEBHOOK_URL: `${receiver.url}/events`, FLEET_WEBHOOK_SECRET: 'deno-fleet-secret-0123456789', EVENTS_WEBHOOK_SECRET: 'deno-events-secret-0123456789' },
      timeoutMs: 60_000,
    });
  }, 90_000);
  afterAll(async () => {
    await denoApp?.stop();
    await receiver?.close();
    await cluster?.close();
    rmSync(stateDir, { recursive: true, force: true });
  });

  const whoami = (bootstrap: string) =>
    new Promise<number>((res, rej) => {
      const u = new URL(cluster.url);
      const req = request({ hostname: u.hostname, port: u.port, path: '/apis/authentication.k8s.io/v1/selfsubjectreviews', method: 'POST', ca: cluster.caPem, headers: { authorization: `Bearer ${bootstrap}`, 'content-type': 'application/json', 'content-length': '2' } }, (r) => {
        r.resume();
        res(r.statusCode ?? 0);
      });
      req.on('error', rej);
      req.end('{}');
    });

  it('20 parallel uses of one code mint exactly one token, and it logs in', async () => {
    const admin = { authorization: `Bearer ${vars.ADMIN_TOKEN}`, 'content-type': 'application/json' };
    expect((await fetch(`${denoApp.ready.listening}/v1/machines/deno-1`, { method: 'PUT', headers: admin, body: JSON.stringify({ enrollmentCode: 'deno-code-0123456789abcdef' }) })).status).toBe(201);
    const results = await Promise.all(
      Array.from({ length: 20 }, () => fetch(`${denoApp.ready.listening}/v1/enroll`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ method: 'code', machineId: 'deno-1', code: 'deno-code-0123456789abcdef' }) })),
    );
    const ok = results.filter((r) => r.status === 201);
    expect(ok).toHaveLength(1);
    expect(results.map((r) => r.status).filter((s) => s !== 201 && s !== 409 && s !== 429 && s !== 503)).toEqual([]);
    // 20 at once are more than one process admits at the default cap (admissionLimit: 10): the rest
    // are the governor's cluster_busy, refused before the proof was looked at.
    for (const r of results.filter((r) => r.status === 503)) expect(await r.json()).toMatchObject({ code: 'cluster_busy' });
    const body = (await ok[0]!.json()) as { token: string };
    await Promise.all(results.filter((r) => r !== ok[0] && r.status !== 503).map((r) => r.body?.cancel()));
    expect(await whoami(body.token.split('::')[1]!)).toBe(201);
  }, 60_000);

  it('a lost answer costs nothing: the same code with the same Idempotency-Key enrolls again, the earlier token stops working; another key is a replay', async () => {
    const admin = { authorization: `Bearer ${vars.ADMIN_TOKEN}`, 'content-type': 'application/json' };
    expect((await fetch(`${denoApp.ready.listening}/v1/machines/deno-idem`, { method: 'PUT', headers: admin, body: JSON.stringify({ enrollmentCode: 'deno-idem-code-0123456789' }) })).status).toBe(201);
    const attempt = (key: string) => fetch(`${denoApp.ready.listening}/v1/enroll`, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': key }, body: JSON.stringify({ method: 'code', machineId: 'deno-idem', code: 'deno-idem-code-0123456789' }) });
    const first = await attempt('key-one-0123456789');
    expect(first.status).toBe(201);
    const a = ((await first.json()) as { token: string }).token.split('::')[1]!;
    const second = await attempt('key-one-0123456789');
    expect(second.status).toBe(201);
    const b = ((await second.json()) as { token: string }).token.split('::')[1]!;
    expect(b).not.toBe(a);
    expect(await whoami(b)).toBe(201);
    expect(await whoami(a)).toBe(401);
    const other = await attempt('key-two-0123456789');
    expect(other.status).toBeGreaterThanOrEqual(400);
    expect(other.status).toBeLessThan(500);
    expect(await whoami(b)).toBe(201);
  }, 60_000);

  it('outbound events go through the Deno KV queue and survive a receiver that fails twice', async () => {
    const admin = { authorization: `Bearer ${vars.ADMIN_TOKEN}`, 'content-type': 'application/json' };
    await fetch(`${denoApp.ready.listening}/v1/machines/flaky-deno`, { method: 'PUT', headers: admin, body: JSON.stringify({ enrollmentCode: 'flaky-deno-code-0123456789' }) });
    const res = await fetch(`${denoApp.ready.listening}/v1/enroll`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ method: 'code', machineId: 'flaky-deno', code: 'flaky-deno-code-0123456789' }) });
    expect(res.status).toBe(201);
    let got: Array<{ type: string; machineId: string; attempts: number; signatureOk: boolean }> = [];
    for (let i = 0; i < 120 && got.length === 0; i++) {
      got = ((await (await fetch(`${receiver.url}/deliveries`)).json()) as typeof got).filter((d) => d.machineId === 'flaky-deno');
      if (got.length === 0) await new Promise((r) => setTimeout(r, 250));
    }
    expect(got).toEqual([expect.objectContaining({ type: 'machine.enrolled', attempts: 3, signatureOk: true })]);
  }, 60_000);
});

// Deno behind a TLS proxy (every request arrives from the proxy's address): with TRUSTED_PROXIES
// the per-address limit and the audit see each client, not one shared address; without it,
// X-Forwarded-For is the client's own claim and ignored.
describe('Deno runtime behind a TLS proxy (TRUSTED_PROXIES)', () => {
  let proxied: Started<{ listening: string }>;
  beforeAll(async () => {
    proxied = await spawnUntilJson(resolve(ROOT, 'node_modules/.bin/deno'), ['run', '--unstable-kv', '--allow-net=127.0.0.1', '--allow-env', '--cached-only', 'src/deno.ts'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, DENO_NO_UPDATE_CHECK: '1', DENO_DIR: resolve(ROOT, 'node_modules/.deno-cache'), PORT: '0', DENO_KV_PATH: ':memory:', ...vars, TRUSTED_PROXIES: '127.0.0.1, 10.0.0.0/8' },
      timeoutMs: 60_000,
    });
  }, 90_000);
  afterAll(() => proxied?.stop());

  // What the proxy sends on: the client's address appended to any X-Forwarded-For it brought.
  const viaProxy = (base: string, client: string, brought?: string, body = '{"method":"code"') =>
    fetch(`${base}/v1/enroll`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': brought ? `${brought}, ${client}` : client }, body });
  // A wrong code for a machine nobody registered: audited with the client address. This instance has
  // no cluster, so the answer is 401 or, when the CA pin is looked up first, 503; never 429 here.
  const refused = [401, 503];
  const wrongCode = JSON.stringify({ method: 'code', machineId: 'nobody', code: 'xxxxxxxxxxxxxxxx' });
  const audit = async (base: string) =>
    ((await (await fetch(`${base}/v1/audit?limit=500`, { headers: { authorization: `Bearer ${vars.ADMIN_TOKEN}` } })).json()) as { items: Array<{ event: string; clientIp: string | null }> }).items;

  it('one client over the limit is refused; another behind the same proxy is not; a forged hop does not help', async () => {
    const base = proxied.ready.listening;
    let status = 0;
    // The counter is a fixed one-minute window: if it rolls over mid-test, keep going (two windows at most).
    for (let i = 0; i < 130 && status !== 429; i++) {
      const r = await viaProxy(base, '198.51.100.1');
      status = r.status;
      await r.body?.cancel();
    }
    expect(status).toBe(429);
    // The limited client writing another address in front: the proxy's hop still names it.
    expect((await viaProxy(base, '198.51.100.1', '203.0.113.50')).status).toBe(429);
    // A second machine behind the same proxy: its own budget (before the fix: 429, one key for all).
    expect((await viaProxy(base, '198.51.100.2')).status).toBe(400);
    expect(refused).toContain((await viaProxy(base, '198.51.100.2', '10.9.9.9', wrongCode)).status);
    const ips = new Set((await audit(base)).map((e) => e.clientIp));
    expect(ips.has('198.51.100.2')).toBe(true);
    expect(ips.has('127.0.0.1')).toBe(false);
  }, 60_000);

  it('without TRUSTED_PROXIES (the default) X-Forwarded-For is ignored: the socket peer is the client', async () => {
    expect(refused).toContain((await viaProxy(deno.ready.listening, '198.51.100.9', undefined, wrongCode)).status);
    const ips = (await audit(deno.ready.listening)).filter((e) => e.event === 'enroll').map((e) => e.clientIp);
    expect(ips).toContain('127.0.0.1');
    expect(ips).not.toContain('198.51.100.9');
  });
});
