// The route walk (issue 14): EVERY route the app serves (read from the Hono app itself, so a new
// route is covered without touching this file) through the real Worker entry in workerd, with and
// without admin credentials: every Object.prototype name as path param, JSON value, JSON key, label
// key, group and query value, and a malformed percent-encoding matrix in every path position. No
// 5xx, ever; a path that does not decode is 400 invalid_request whatever the credentials.
// It runs on plain Miniflare (test/support/worker-miniflare.ts: the built bundle, wrangler.toml's
// bindings, the D1 migrations) from Node, not in the vitest-pool-workers isolate, where each
// SELF.fetch got slower the more the file had sent (thousands of requests took tens of minutes).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.ts';
import { silentLogger } from '../../src/http/logger.ts';
import { signWebhook } from '../../src/http/webhook-signature.ts';
import { startWorkerStack, TEST_ADMIN_TOKEN, TEST_FLEET_WEBHOOK_SECRET, type MiniflareWorker, type WorkerStack } from '../support/worker-miniflare.ts';

const ADMIN = `Bearer ${TEST_ADMIN_TOKEN}`;
const FLEET_SECRET = TEST_FLEET_WEBHOOK_SECRET;
const PROTO_NAMES = Object.getOwnPropertyNames(Object.prototype);
/** Percent-encodings no strict decoder accepts: truncated, non-hex, overlong, surrogate, invalid UTF-8. */
const MALFORMED_ENCODINGS = ['%', '%Z', '%ZZ', '%E0%A4%A', '%E0%A4', '%C0%AF', '%ED%A0%80', '%FF', '%80', 'abc%', '%%', '%u0041', 'a%2', '%F4%90%80%80', '%C3%28'];

/** The app's routes, read from a Hono instance built with no services (routes are static). */
function appRoutes(): Array<{ method: string; path: string }> {
  const app = createApp({ loadConfig: () => { throw new Error('route listing only'); }, logger: silentLogger });
  const seen = new Map<string, { method: string; path: string }>();
  for (const r of app.routes) if (r.method !== 'ALL' && !r.path.includes('*')) seen.set(`${r.method} ${r.path}`, { method: r.method, path: r.path });
  return [...seen.values()];
}

const fill = (path: string, value: string) => path.replace(/:[A-Za-z]+/g, value);
let worker: MiniflareWorker;
let ip = 0;
async function send(method: string, path: string, opts: { admin: boolean; body?: string; headers?: Record<string, string> }): Promise<{ status: number; text: string }> {
  // The enrollment limits count per client address (IPv6: per /64): every enrollment request
  // comes from a /64 of its own, so each one reaches the code behind the limiter.
  const from = path.startsWith('/v1/enroll') ? `2001:db8:${((++ip >> 16) & 0xffff).toString(16)}:${(ip & 0xffff).toString(16)}::1` : '2001:db8::1';
  const headers: Record<string, string> = { 'cf-connecting-ip': from, ...(opts.admin ? { authorization: ADMIN } : {}), ...(opts.headers ?? {}) };
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  let res = await worker.fetch(path, { method, headers, redirect: 'manual', ...(opts.body !== undefined && method !== 'GET' && method !== 'HEAD' ? { body: opts.body } : {}) });
  // Redirects are followed as SELF.fetch in workerd followed them (fetch's "follow"): same origin,
  // 303 (and 301/302 after a POST) as a GET without a body, 307/308 as sent.
  for (let hops = 0; hops < 20 && [301, 302, 303, 307, 308].includes(res.status); hops++) {
    const next = new URL(res.headers.get('location') ?? '', `https://enroll.test${path}`);
    if (next.origin !== 'https://enroll.test') break;
    await res.body?.cancel();
    const asGet = res.status === 303 || (res.status <= 302 && method === 'POST');
    if (asGet) {
      method = 'GET';
      delete headers['content-type'];
    }
    path = next.pathname + next.search;
    res = await worker.fetch(path, { method, headers, redirect: 'manual', ...(!asGet && opts.body !== undefined && method !== 'GET' && method !== 'HEAD' ? { body: opts.body } : {}) });
  }
  return { status: res.status, text: await res.text() };
}

/** JSON bodies that put a prototype name where a map lookup or an object copy could meet it. */
function bodiesFor(name: string): Array<Record<string, unknown>> {
  const own = (k: string, v: unknown) => JSON.parse(`{${JSON.stringify(k)}:${JSON.stringify(v)}}`) as Record<string, unknown>;
  return [
    { method: name },
    own(name, name),
    { method: 'code', machineId: name, code: name },
    { method: 'x509', machineId: name, certificate: name, challengeId: name, signature: name },
    { method: 'tpm', ekCert: name, ekPub: name, akPublic: name, challengeId: name, secret: name },
    { method: 'jwt', jwt: name },
    { labels: own(name, 'x'), groups: [name] },
    { token: name, ttl: name, description: name, groups: [name], usages: [name] },
    { token: name, newToken: name },
    { id: `walk-${PROTO_NAMES.indexOf(name)}`, type: name, machine: { id: 'walk-machine', ...own(name, name) } },
    { id: `walk-r-${PROTO_NAMES.indexOf(name)}`, type: 'machine.registered', machine: { id: 'walk-machine', labels: own(name, 'v') }, occurredAt: name },
    own('__proto__', { method: 'code', admin: true }),
  ];
}

const allRoutes = appRoutes();
/** ROUTE_WALK_FULL=1: every body shape for every name; by default each shape meets a third of the names. */
const FULL = process.env.ROUTE_WALK_FULL === '1';
const sample = <T>(all: T[], n: number): T[] => (FULL ? all : all.filter((_, i) => i === 0 || (i + n) % 3 === 0));

let stack: WorkerStack;
beforeAll(async () => {
  // Thousands of refused requests: their `request.rejected` lines are expected and only drown the report.
  stack = await startWorkerStack({ dropLog: (line) => line.includes('"event":"request.rejected"') });
  worker = stack.worker;
}, 120_000);
afterAll(() => stack?.close());

const routes = allRoutes;
describe('route walk: no 5xx from prototype names or broken encodings', () => {
  it('finds the routes from the app itself', () => {
    expect(allRoutes.length).toBeGreaterThanOrEqual(10);
    expect(routes.length).toBeGreaterThan(0);
    expect(allRoutes).toEqual(expect.arrayContaining([{ method: 'POST', path: '/v1/enroll' }, { method: 'DELETE', path: '/v1/tokens/:token' }, { method: 'PUT', path: '/v1/machines/:id' }]));
  });

  for (const route of routes) {
    it(`${route.method} ${route.path}: every Object.prototype name, as param, body value, key, label and query`, async () => {
      const failures: string[] = [];
      for (const admin of [false, true]) {
        for (const name of PROTO_NAMES) {
          const path = fill(route.path, encodeURIComponent(name));
          const query = `?limit=${encodeURIComponent(name)}&after=${encodeURIComponent(name)}&since=${encodeURIComponent(name)}&${encodeURIComponent(name)}=1`;
          const requests: Array<Promise<{ status: number; text: string; what: string }>> = [];
          requests.push(send(route.method, path + query, { admin }).then((r) => ({ ...r, what: `query ${name}` })));
          if (route.method !== 'GET') {
            for (const b of sample(bodiesFor(name), PROTO_NAMES.indexOf(name))) {
              const body = JSON.stringify(b);
              const headers: Record<string, string> = route.path === '/v1/webhooks/fleet' ? { 'x-enroll-signature': signWebhook(FLEET_SECRET, body, Math.floor(Date.now() / 1000)) } : {};
              requests.push(send(route.method, path, { admin, body, headers }).then((r) => ({ ...r, what: `body ${body}` })));
            }
          }
          for (const r of await Promise.all(requests)) {
            if (r.status >= 500) failures.push(`${admin ? 'admin' : 'anon'} ${route.method} ${path} ${r.what} → ${r.status} ${r.text.slice(0, 200)}`);
          }
        }
      }
      expect(failures).toEqual([]);
    }, 300_000);

    it(`${route.method} ${route.path}: malformed percent-encoding is 400 invalid_request, with or without credentials`, async () => {
      const failures: string[] = [];
      const segments = route.path.split('/').length - 1;
      for (const admin of [false, true]) {
        for (const [n, bad] of MALFORMED_ENCODINGS.entries()) {
          // In the route's own params, appended, and in place of a static segment (each segment in
          // turn by default; every segment for every encoding with ROUTE_WALK_FULL=1).
          const paths = new Set<string>([`${fill(route.path, 'x')}/${bad}`]);
          if (route.path.includes(':')) paths.add(fill(route.path, bad));
          for (let i = 1; i <= segments; i++) {
            if (!FULL && i !== (n % segments) + 1) continue;
            const parts = route.path.split('/');
            parts[i] = bad;
            paths.add(fill(parts.join('/'), 'x'));
          }
          const results = await Promise.all([...paths].map((p) => send(route.method, p, { admin, ...(route.method !== 'GET' ? { body: '{}' } : {}) }).then((r) => ({ ...r, p }))));
          for (const r of results) {
            const code = r.status === 400 ? (JSON.parse(r.text) as { code: string }).code : null;
            if (r.status !== 400 || code !== 'invalid_request') failures.push(`${admin ? 'admin' : 'anon'} ${route.method} ${r.p} → ${r.status} ${r.text.slice(0, 160)}`);
          }
        }
      }
      expect(failures).toEqual([]);
    }, 300_000);
  }
});
