// k3s-token against a recording stand-in server (issue 14 items 8 and 14): `delete` accepts a full
// token like `k3s token delete` but only its id goes on the wire; .dev/state.json (the dev stack's
// URL and admin token) is used only when neither a server nor an admin token was given.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error: plain JavaScript module
import { main } from './k3s-token.mjs';

type Seen = { server: string; method: string; url: string; auth: string };
const seen: Seen[] = [];
const servers: Server[] = [];
const urls: Record<'dev' | 'other', string> = { dev: '', other: '' };
const dir = mkdtempSync(join(tmpdir(), 'k3s-token-cli-'));
const SECRET = '0123456789abcdef';

async function listen(name: 'dev' | 'other') {
  const s = createServer((req, res) => {
    seen.push({ server: name, method: req.method!, url: req.url!, auth: req.headers.authorization ?? '' });
    const id = /^\/v1\/tokens\/([a-z0-9]{6})$/.exec(req.url!)?.[1];
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(id ? { id, message: `bootstrap token "${id}" deleted` } : { items: [] }));
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  servers.push(s);
  urls[name] = `http://127.0.0.1:${(s.address() as { port: number }).port}`;
}
const saved = { ...process.env };
beforeAll(async () => {
  await listen('dev');
  await listen('other');
  writeFileSync(join(dir, 'state.json'), JSON.stringify({ enrollUrl: `${urls.dev}/v1/enroll`, adminToken: 'dev-admin-token-from-state' }));
});
afterEach(() => {
  seen.length = 0;
  for (const k of ['K3S_ENROLL_URL', 'K3S_ENROLL_ADMIN_TOKEN']) delete process.env[k];
  process.env.K3S_ENROLL_DEV_DIR = dir;
});
afterAll(async () => {
  process.env = saved;
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  rmSync(dir, { recursive: true, force: true });
});

describe('k3s-token delete: only the id on the wire (item 8)', () => {
  it.each([`abcdef.${SECRET}`, `K10${'a'.repeat(64)}::abcdef.${SECRET}`, `K10::abcdef.${SECRET}`, 'abcdef'])('delete %s → DELETE /v1/tokens/abcdef', async (arg) => {
    process.env.K3S_ENROLL_DEV_DIR = dir;
    const r = await main(['delete', arg]);
    expect(r).toMatchObject({ code: 0, out: 'bootstrap token "abcdef" deleted\n' });
    expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual(['DELETE /v1/tokens/abcdef']);
    expect(JSON.stringify(seen)).not.toContain(SECRET);
  });

  it.each([`K10${'a'.repeat(64)}::server:${SECRET}`, 'ABCDEF', 'abc'])('refuses %s locally, sending nothing', async (arg) => {
    process.env.K3S_ENROLL_DEV_DIR = dir;
    const r = await main(['delete', arg]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^error: given token didn't match pattern/);
    expect(seen).toEqual([]);
  });
});

describe('k3s-token: .dev/state.json only when neither server nor admin token is given (item 14)', () => {
  it('neither given: the dev stack from state.json', async () => {
    process.env.K3S_ENROLL_DEV_DIR = dir;
    expect((await main(['list'])).code).toBe(0);
    expect(seen).toEqual([{ server: 'dev', method: 'GET', url: '/v1/tokens', auth: 'Bearer dev-admin-token-from-state' }]);
  });

  it('a server given (flag or env) without a token: the dev admin token is NOT sent to it', async () => {
    process.env.K3S_ENROLL_DEV_DIR = dir;
    const byFlag = await main(['list', '--server', urls.other]);
    expect(byFlag.code).toBe(1);
    expect(byFlag.err).toContain('an admin token is required');
    process.env.K3S_ENROLL_URL = urls.other;
    expect((await main(['list'])).code).toBe(1);
    expect(seen).toEqual([]);
  });

  it('both given: used as given', async () => {
    process.env.K3S_ENROLL_DEV_DIR = dir;
    expect((await main(['list', '-s', urls.other, '--admin-token', 'prod-admin-token'])).code).toBe(0);
    expect(seen).toEqual([{ server: 'other', method: 'GET', url: '/v1/tokens', auth: 'Bearer prod-admin-token' }]);
  });
});
