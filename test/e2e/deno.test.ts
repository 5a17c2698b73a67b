// The same app under the real Deno binary (npm package `deno`, offline, --cached-only), over
// 127.0.0.1: the answers must match the in-process app's byte for byte, request id aside.
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.ts';
import { parseConfig } from '../../src/config.ts';
import { silentLogger } from '../../src/http/logger.ts';
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
  deno = await spawnUntilJson(resolve(ROOT, 'node_modules/.bin/deno'), ['run', '--allow-net=127.0.0.1', '--allow-env', '--cached-only', 'src/deno.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, DENO_NO_UPDATE_CHECK: '1', DENO_DIR: resolve(ROOT, 'node_modules/.deno-cache'), PORT: '0', ...vars },
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
    const bad = spawnUntilJson<{ listening: string }>(resolve(ROOT, 'node_modules/.bin/deno'), ['run', '--allow-net=127.0.0.1', '--allow-env', '--cached-only', 'src/deno.ts'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, DENO_NO_UPDATE_CHECK: '1', DENO_DIR: resolve(ROOT, 'node_modules/.deno-cache'), PORT: '0' },
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
