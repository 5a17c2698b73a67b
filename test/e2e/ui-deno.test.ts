// The dashboard under the Deno entry (real Deno binary, Deno KV in memory): the pages render
// (hono/jsx resolves under Deno), sign-in works, a registration shows its code once.
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnUntilJson, type Started } from '../support/spawn.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const ADMIN = 'test-admin-token-0123456789';
let deno: Started<{ listening: string }>;
beforeAll(async () => {
  deno = await spawnUntilJson(resolve(ROOT, 'node_modules/.bin/deno'), ['run', '--unstable-kv', '--allow-net=127.0.0.1', '--allow-env', '--cached-only', 'src/deno.ts'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      DENO_NO_UPDATE_CHECK: '1',
      DENO_DIR: resolve(ROOT, 'node_modules/.deno-cache'),
      PORT: '0',
      DENO_KV_PATH: ':memory:',
      K3S_SERVER_URL: 'https://k3s.example.test:6443',
      CLUSTER_API_URL: 'https://127.0.0.1:1',
      CLUSTER_SA_TOKEN: 'test-sa-token',
      ADMIN_TOKEN: ADMIN,
      CLUSTER_CA_HASH: 'a'.repeat(64),
    },
    timeoutMs: 60_000,
  });
}, 90_000);
afterAll(() => deno?.stop());

describe('dashboard on Deno', () => {
  it('redirects to sign-in, signs in, registers with a one-time code shown once', async () => {
    const base = deno.ready.listening;
    const jar = new Map<string, string>();
    const keep = (res: Response) => {
      for (const sc of res.headers.getSetCookie()) {
        const [name, value] = sc.split(';')[0]!.split('=') as [string, string];
        if (value) jar.set(name, value);
        else jar.delete(name);
      }
      return res;
    };
    const cookie = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const get = async (path: string) => keep(await fetch(base + path, { headers: { cookie: cookie() }, redirect: 'manual' }));
    const post = async (path: string, fields: Record<string, string>) => keep(await fetch(base + path, { method: 'POST', headers: { cookie: cookie(), origin: base, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields), redirect: 'manual' }));
    const hidden = (html: string, name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(html)![1]!;

    expect((await get('/ui')).headers.get('location')).toBe('/ui/login');
    const login = await get('/ui/login');
    expect(login.headers.get('content-security-policy')).toContain("script-src 'self'");
    const signIn = await post('/ui/login', { _login: hidden(await login.text(), '_login'), token: ADMIN });
    expect(signIn.status).toBe(303);
    expect(jar.has('k3se_session')).toBe(true);
    const fleet = await get('/ui');
    expect(fleet.status).toBe(200);
    expect(await fleet.text()).toContain('<svg class="chart"');
    const form = await (await get('/ui/register')).text();
    const res = await post('/ui/register', { _csrf: hidden(form, '_csrf'), _once: hidden(form, '_once'), id: 'deno-ui-1', generateCode: 'on' });
    expect(res.status).toBe(201);
    const code = /data-testid="one-time-code">([^<]+)</.exec(await res.text())![1]!;
    expect(await (await get('/ui/machines/deno-ui-1')).text()).not.toContain(code);
    expect(await (await get('/ui/machines')).text()).toMatch(/deno-ui-1[\s\S]*registered/);
  }, 60_000);
});
