// The dashboard in-process (Node, memory stores, a fake cluster): sign-in and session cookie
// attributes, CSRF refusals, headers (CSP, no-store), the shown-once code and token, and that the
// pages act through the same use cases as the API (audit records, the index).
import { describe, expect, it } from 'vitest';
import { createApp, type Services } from '../app.ts';
import { parseConfig } from '../config.ts';
import type { Logger } from '../http/logger.ts';
import { createMemoryAuditLog, createMemoryMachineIndex, createMemoryMachineStore, createMemoryRateLimiter, createMemoryChallengeStore, createMemoryWebhookEventLog } from '../store/memory.ts';
import { generateOneTimeCode } from './one-time-code.ts';
import { countStates, hourlyEnrollments, HOUR_MS, matchesLabel } from './fleet-data.ts';
import type { MachineView } from '../store/ports.ts';
import { parseLabelLines } from './routes.tsx';
import { UpstreamError } from '../errors.ts';

const ADMIN = 'admin-secret-0123456789';
const config = parseConfig({ K3S_SERVER_URL: 'https://k3s:6443', CLUSTER_API_URL: 'https://api', CLUSTER_SA_TOKEN: 'sa-secret-value', CLUSTER_CA_HASH: 'a'.repeat(64), ADMIN_TOKEN: ADMIN });

type FakeNode = { metadata: { name: string; uid: string; creationTimestamp?: string; labels?: Record<string, string> }; spec?: { taints?: { key: string; effect: string }[] } };
/** The Nodes the fake cluster lists; a function that throws stands for a cluster that does not answer. */
let clusterNodes: () => FakeNode[] = () => [];

function fakeCluster() {
  const tokens = new Map<string, { id: string; description: string }>();
  let n = 0;
  return {
    tokens: {
      mint: async (req: { description: string }) => {
        const id = `tok${String(++n).padStart(3, '0')}`;
        tokens.set(id, { id, description: req.description });
        return { token: { id, secret: 'x'.repeat(16), token: `${id}.${'x'.repeat(16)}` }, expiresAt: new Date('2030-01-01T00:00:00Z') };
      },
      list: async () => [...tokens.values()].map((t) => ({ ...t, expires: null, invalidExpiration: false, usages: ['authentication', 'signing'], groups: ['system:bootstrappers:k3s:default-node-token'] })),
      remove: async (id: string) => tokens.delete(id),
    },
    ca: { caHash: async () => 'a'.repeat(64) },
    nodes: { listAll: async () => ({ items: clusterNodes(), resourceVersion: '1', pages: 1 }) },
    rotateServerToken: async () => undefined,
  };
}

function build(loginLimit = 100) {
  const lines: string[] = [];
  const logger: Logger = { log: (level, event, fields) => lines.push(JSON.stringify({ level, event, ...fields })) };
  const index = createMemoryMachineIndex();
  const audit = createMemoryAuditLog();
  const services: Services = {
    machines: createMemoryMachineStore((v) => void index.upsert(v)),
    index,
    audit,
    challenges: createMemoryChallengeStore(),
    webhookEvents: createMemoryWebhookEventLog(),
    ipLimiter: createMemoryRateLimiter(loginLimit, 60_000),
    cluster: fakeCluster() as unknown as Services['cluster'],
    verifiers: {},
    ekTrust: { roots: [], intermediates: [] },
  };
  const app = createApp({ loadConfig: () => config, services: () => services, logger });
  return { app, audit, lines, services, index };
}

const ORIGIN = 'http://127.0.0.1:8787';
type Jar = Map<string, string>;
function absorb(jar: Jar, res: Response) {
  for (const sc of res.headers.getSetCookie()) {
    const [pair] = sc.split(';');
    const i = pair!.indexOf('=');
    const name = pair!.slice(0, i);
    const value = pair!.slice(i + 1);
    if (value === '' || /max-age=0/i.test(sc)) jar.delete(name);
    else jar.set(name, value);
  }
}
const cookieHeader = (jar: Jar) => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
const hidden = (html: string, name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1] ?? '';

async function client(origin = ORIGIN, loginLimit = 100) {
  const { app, audit, lines, index } = build(loginLimit);
  const jar: Jar = new Map();
  const get = async (path: string) => {
    const res = await app.request(`${origin}${path}`, { headers: { cookie: cookieHeader(jar) } });
    absorb(jar, res);
    return res;
  };
  const post = async (path: string, fields: Record<string, string>, headers: Record<string, string> = { origin }) => {
    const res = await app.request(`${origin}${path}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookieHeader(jar), ...headers }, body: new URLSearchParams(fields).toString() });
    absorb(jar, res);
    return res;
  };
  const login = async () => {
    const page = await (await get('/ui/login')).text();
    return post('/ui/login', { _login: hidden(page, '_login'), token: ADMIN });
  };
  return { app, audit, lines, index, jar, get, post, login };
}

describe('dashboard sign-in', () => {
  it('sends a request without a session to the sign-in page (pages and posts alike)', async () => {
    const c = await client();
    for (const path of ['/ui', '/ui/machines', '/ui/machines/x', '/ui/register', '/ui/tokens', '/ui/audit', '/ui/nodes']) {
      const res = await c.get(path);
      expect([path, res.status, res.headers.get('location')]).toEqual([path, 303, '/ui/login']);
    }
    expect((await c.post('/ui/register', { id: 'x' })).headers.get('location')).toBe('/ui/login');
  });

  it('exchanges the admin token for an HttpOnly SameSite=Strict session cookie (not Secure on http loopback)', async () => {
    const c = await client();
    const res = await c.login();
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/ui');
    const sc = res.headers.getSetCookie().find((s) => s.startsWith('k3se_session='))!;
    expect(sc).toMatch(/HttpOnly/);
    expect(sc).toMatch(/SameSite=Strict/);
    expect(sc).toMatch(/Max-Age=3600/);
    expect(sc).not.toMatch(/Secure/);
    expect(sc).not.toContain(ADMIN);
    expect((await c.get('/ui')).status).toBe(200);
  });

  it('uses a Secure __Host- cookie over https', async () => {
    const c = await client('https://enroll.example.com');
    const res = await c.login();
    const sc = res.headers.getSetCookie().find((s) => s.startsWith('__Host-k3se_session='))!;
    expect(sc).toMatch(/Secure/);
    expect(sc).toMatch(/Path=\//);
  });

  it('refuses a wrong token (401, audited) and a login post from another origin or without its nonce', async () => {
    const c = await client();
    const page = await (await c.get('/ui/login')).text();
    const wrong = await c.post('/ui/login', { _login: hidden(page, '_login'), token: 'nope-nope-nope-nope' });
    expect(wrong.status).toBe(401);
    expect(await wrong.text()).toContain('That is not the admin token.');
    expect(c.jar.has('k3se_session')).toBe(false);
    expect(c.audit.events.some((e) => e.event === 'ui.login' && e.outcome === 'failure')).toBe(true);
    const page2 = await (await c.get('/ui/login')).text();
    expect((await c.post('/ui/login', { _login: hidden(page2, '_login'), token: ADMIN }, { origin: 'https://evil.example' })).status).toBe(403);
    expect((await c.post('/ui/login', { _login: 'forged', token: ADMIN })).status).toBe(403);
    expect(c.jar.has('k3se_session')).toBe(false);
  });

  it('limits sign-in attempts per address (429 after the limiter says no)', async () => {
    const c = await client(ORIGIN, 3);
    let last = 0;
    for (let i = 0; i < 4; i++) {
      const page = await (await c.get('/ui/login')).text();
      last = (await c.post('/ui/login', { _login: hidden(page, '_login'), token: 'nope-nope-nope-nope' })).status;
    }
    expect(last).toBe(429);
    const page = await (await c.get('/ui/login')).text();
    expect((await c.post('/ui/login', { _login: hidden(page, '_login'), token: ADMIN })).status).toBe(429);
    expect(c.jar.has('k3se_session')).toBe(false);
  });

  it('counts sign-in attempts from one IPv6 /64 together (every address of it is one client)', async () => {
    const c = await client(ORIGIN, 3);
    const attempt = async (ip: string) => {
      const page = await (await c.get('/ui/login')).text();
      return (await c.post('/ui/login', { _login: hidden(page, '_login'), token: 'nope-nope-nope-nope' }, { origin: ORIGIN, 'cf-connecting-ip': ip })).status;
    };
    const statuses = [];
    for (let i = 1; i <= 4; i++) statuses.push(await attempt(`2001:db8:5:6::${i}`));
    expect(statuses).toEqual([401, 401, 401, 429]);
    expect(await attempt('2001:db8:5:7::1')).toBe(401);
  });

  it('refuses a forged or expired-key session cookie', async () => {
    const c = await client();
    c.jar.set('k3se_session', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbi10b2tlbiJ9.AAAA');
    expect((await c.get('/ui')).status).toBe(303);
  });

  it('signs out: the cookie is cleared and the next page needs a sign-in', async () => {
    const c = await client();
    await c.login();
    const html = await (await c.get('/ui')).text();
    const out = await c.post('/ui/logout', { _csrf: hidden(html, '_csrf') });
    expect(out.status).toBe(303);
    expect(c.jar.has('k3se_session')).toBe(false);
    expect((await c.get('/ui')).status).toBe(303);
  });
});

describe('dashboard CSRF and headers', () => {
  it('refuses a post from another origin, without Origin, or without the CSRF token; changes nothing', async () => {
    const c = await client();
    await c.login();
    const html = await (await c.get('/ui/register')).text();
    const fields = { _csrf: hidden(html, '_csrf'), _once: hidden(html, '_once'), id: 'csrf-1', generateCode: 'on' };
    expect((await c.post('/ui/register', fields, { origin: 'https://evil.example' })).status).toBe(403);
    expect((await c.post('/ui/register', fields, {})).status).toBe(403);
    expect((await c.post('/ui/register', fields, { 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    expect((await c.post('/ui/register', { ...fields, _csrf: 'forged' })).status).toBe(403);
    expect((await c.get('/ui/machines/csrf-1')).status).toBe(404);
  });

  it('every page: strict CSP (no inline script), no-store, no framing', async () => {
    const c = await client();
    for (const path of ['/ui/login', '/ui', '/ui/assets/app.css']) {
      if (path === '/ui') await c.login();
      const res = await c.get(path);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('content-security-policy')).toBe("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      const text = await res.text();
      expect(text).not.toMatch(/<script(?![^>]*\bsrc=)/);
      expect(text).not.toMatch(/\sstyle="/);
    }
  });
});

describe('dashboard actions through the API use cases', () => {
  it('register with a generated code: shown once, hashed in the store, audited; a re-post shows no code', async () => {
    const c = await client();
    await c.login();
    const form = await (await c.get('/ui/register')).text();
    const fields = { _csrf: hidden(form, '_csrf'), _once: hidden(form, '_once'), id: 'edge-7', generateCode: 'on', labels: 'site=7\nrack=b' };
    const res = await c.post('/ui/register', fields);
    expect(res.status).toBe(201);
    const html = await res.text();
    const code = /data-testid="one-time-code">([^<]+)</.exec(html)![1]!;
    expect(code).toMatch(/^[a-z2-9]{4}(-[a-z2-9]{4}){4}$/);
    expect(html).toContain('<svg');
    expect(c.audit.events.some((e) => e.event === 'machine.register' && e.machineId === 'edge-7' && e.actor === 'ui:admin-token')).toBe(true);
    // Reload = the same post again: refused, no code, nothing re-registered.
    const again = await c.post('/ui/register', fields);
    expect(again.status).toBe(409);
    expect(await again.text()).not.toContain(code);
    const page = await (await c.get('/ui/machines/edge-7')).text();
    expect(page).not.toContain(code);
    expect(page).toContain('site=7');
    const list = await (await c.get('/ui/machines?label=site%3D7')).text();
    expect(list).toMatch(/<table[\s\S]*edge-7[\s\S]*registered/);
    expect(await (await c.get('/ui/machines?state=enrolled')).text()).not.toContain('>edge-7<');
  });

  it('a bad machine id re-renders the form with the API message (400)', async () => {
    const c = await client();
    await c.login();
    const form = await (await c.get('/ui/register')).text();
    const res = await c.post('/ui/register', { _csrf: hidden(form, '_csrf'), _once: hidden(form, '_once'), id: 'Not_Valid', generateCode: 'on' });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('machine id');
  });

  it('revoke needs the confirmation post; tokens: create shows K10 once, delete', async () => {
    const c = await client();
    await c.login();
    const form = await (await c.get('/ui/register')).text();
    await c.post('/ui/register', { _csrf: hidden(form, '_csrf'), _once: hidden(form, '_once'), id: 'edge-8' });
    const confirm = await (await c.get('/ui/machines/edge-8/revoke')).text();
    expect(confirm).toContain('Confirm');
    const revoked = await c.post('/ui/machines/edge-8/revoke', { _csrf: hidden(confirm, '_csrf') });
    expect(revoked.status).toBe(303);
    expect(await (await c.get('/ui/machines/edge-8')).text()).toContain('state-revoked');

    const tokens = await (await c.get('/ui/tokens')).text();
    const created = await c.post('/ui/tokens', { _csrf: hidden(tokens, '_csrf'), _once: hidden(tokens, '_once'), description: 'ui', ttl: '1h' });
    expect(created.status).toBe(201);
    const body = await created.text();
    expect(body).toMatch(/data-testid="join-token">K10a{64}::tok001\.x{16}</);
    expect((await c.post('/ui/tokens', { _csrf: hidden(tokens, '_csrf'), _once: hidden(tokens, '_once'), description: 'ui' })).status).toBe(409);
    const del = await c.post('/ui/tokens/delete', { _csrf: hidden(body, '_csrf'), id: 'tok001' });
    expect(del.headers.get('location')).toBe('/ui/tokens?deleted=tok001');
    expect(await (await c.get('/ui/tokens')).text()).toContain('No bootstrap token.');
    expect(c.audit.events.map((e) => e.event)).toEqual(expect.arrayContaining(['machine.revoke', 'token.create', 'token.delete']));
  });

  it('fleet and audit pages render rejections with their reason', async () => {
    const c = await client();
    await c.login();
    const at = Date.now();
    await c.audit.append({ at, event: 'enroll', outcome: 'failure', machineId: 'site7-a', method: 'code', code: 'attestation_rejected', reason: 'enrollment code does not match', tokenId: null, requestId: 'r1', actor: null, clientIp: '10.0.0.7' });
    const fleet = await (await c.get('/ui')).text();
    expect(fleet).toContain('enrollment code does not match');
    expect(fleet).toContain('1 rejections');
    const audit = await (await c.get('/ui/audit?outcome=failure&machine=site7-a')).text();
    expect(audit).toContain('enrollment code does not match');
    expect(await (await c.get('/ui/audit?outcome=success&machine=site7-a')).text()).not.toContain('enrollment code does not match');
  });

  it('an unknown machine is a 404 page, not JSON', async () => {
    const c = await client();
    await c.login();
    const res = await c.get('/ui/machines/nobody');
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
  });
});

describe('dashboard Nodes page (GET /v1/nodes use case)', () => {
  it('lists every Node with the machine that accounts for it; unattested ones are marked, quarantine shown', async () => {
    const c = await client();
    await c.login();
    clusterNodes = () => [
      { metadata: { name: 'edge-1', uid: 'uid-1', creationTimestamp: '2026-12-01T10:00:00Z', labels: { 'k3s-enroll.node-restriction.kubernetes.io/method': 'tpm' } } },
      { metadata: { name: 'rogue-9', uid: 'uid-9', creationTimestamp: '2026-12-01T10:05:00Z' }, spec: { taints: [{ key: 'k3s-enroll.io/unattested', effect: 'NoSchedule' }] } },
    ];
    try {
      const joined: MachineView = { id: 'edge-1', groups: null, labels: {}, tokenTtlSeconds: null, hasEnrollmentCode: false, enrollmentCodeUsed: false, enrollmentCodeExpiresAt: null, jwtSubject: null, ekPublicKeySha256: 'e'.repeat(64), certificateSha256: null, revokedAt: null, createdAt: 1, updatedAt: 2, liveToken: null, lastEnrolledAt: 2, state: 'joined', node: { name: 'edge-1', uid: 'uid-1', joinedAt: 2 } };
      await c.index.upsert(joined);
      const res = await c.get('/ui/nodes');
      expect(res.status).toBe(200);
      const html = await res.text();
      expect(html).not.toContain('data-testid="nodes-stub"');
      expect(html).toContain('2 Nodes; 1 unattested');
      expect(html).toMatch(/edge-1<\/th>\s*<td class="mono"><a href="\/ui\/machines\/edge-1">edge-1<\/a><\/td>\s*<td><span class="state state-enrolled">attested/);
      expect(html).toMatch(/rogue-9<\/th>\s*<td class="mono">—<\/td>\s*<td><span class="state state-revoked">unattested<\/span><\/td>\s*<td>yes \(NoSchedule taint\)/);
    } finally {
      clusterNodes = () => [];
    }
  });

  it('a cluster that does not answer is a 503 page with a notice, not an error page', async () => {
    const c = await client();
    await c.login();
    clusterNodes = () => {
      throw new UpstreamError('the cluster API did not answer (list nodes)', { retryable: true });
    };
    try {
      const res = await c.get('/ui/nodes');
      expect(res.status).toBe(503);
      const html = await res.text();
      expect(html).toContain('data-testid="nodes-stub"');
      expect(html).toContain('The cluster did not answer');
    } finally {
      clusterNodes = () => [];
    }
  });
});

describe('dashboard helpers', () => {
  it('one-time codes: 20 symbols without look-alikes, no modulo bias in the sampling', () => {
    expect(generateOneTimeCode()).toMatch(/^[a-hjkmnp-z2-9]{4}(-[a-hjkmnp-z2-9]{4}){4}$/);
    // Bytes at or above 248 (= 8 × 31) are rejected, not folded onto the first symbols.
    let calls = 0;
    const code = generateOneTimeCode((n) => new Uint8Array(n).fill(calls++ === 0 ? 250 : 0));
    expect(code).toBe('aaaa-aaaa-aaaa-aaaa-aaaa');
    expect(calls).toBe(2);
  });
  it('labels parse from lines; a line without = is refused', () => {
    expect(parseLabelLines('site=7\n rack = b \n\n')).toEqual({ site: '7', rack: 'b' });
    expect(() => parseLabelLines('site')).toThrow(/key=value/);
    expect(matchesLabel({ site: '7' }, 'site=7')).toBe(true);
    expect(matchesLabel({ site: '7' }, 'site=8')).toBe(false);
    expect(matchesLabel({ site: '7' }, 'site')).toBe(true);
  });
  it('state counts: registered/enrolled/revoked until the service reports `state`, then all five', () => {
    const v = (over: Partial<MachineView> & Record<string, unknown>) => ({ id: 'm', groups: null, labels: {}, tokenTtlSeconds: null, hasEnrollmentCode: false, enrollmentCodeUsed: false, enrollmentCodeExpiresAt: null, jwtSubject: null, ekPublicKeySha256: null, certificateSha256: null, revokedAt: null, createdAt: 0, updatedAt: 0, liveToken: null, lastEnrolledAt: null, ...over }) as MachineView;
    expect(countStates([v({}), v({ lastEnrolledAt: 5 }), v({ revokedAt: 6, lastEnrolledAt: 5 })])).toEqual({ registered: 1, enrolled: 1, revoked: 1 });
    expect(countStates([v({ state: 'joined' }), v({ state: 'registered' })])).toEqual({ registered: 1, enrolled: 0, joined: 1, join_expired: 0, revoked: 0 });
  });
  it('hourly buckets: 24 hours, successes and failures apart, older events left out', () => {
    const now = Date.UTC(2026, 0, 2, 10, 30);
    const ev = (at: number, outcome: 'success' | 'failure', event = 'enroll') => ({ seq: 0, at, event, outcome, machineId: null, method: null, code: null, reason: null, tokenId: null, requestId: null, actor: null, clientIp: null });
    const b = hourlyEnrollments([ev(now, 'success'), ev(now - 60_000, 'failure'), ev(now - 2 * HOUR_MS, 'failure', 'enroll.challenge'), ev(now - 30 * HOUR_MS, 'success'), ev(now, 'success', 'token.create')], now);
    expect(b).toHaveLength(24);
    expect(b[23]).toMatchObject({ enrolled: 1, rejected: 1, start: Date.UTC(2026, 0, 2, 10) });
    expect(b[21]).toMatchObject({ enrolled: 0, rejected: 1 });
    expect(b.reduce((a, x) => a + x.enrolled, 0)).toBe(1);
  });
});

describe('dashboard behind Cloudflare Access', () => {
  const TEAM = 'myteam.cloudflareaccess.com';
  const AUD = 'access-aud-tag-123';
  async function accessApp() {
    const { exportJWK, generateKeyPair, SignJWT } = await import('jose');
    const good = await generateKeyPair('RS256', { extractable: true });
    const rogue = await generateKeyPair('RS256', { extractable: true });
    const jwks = { keys: [{ ...(await exportJWK(good.publicKey)), kid: 'access-1', alg: 'RS256' }] };
    const sign = (key: CryptoKey, email = 'ops@example.com') =>
      new SignJWT({ email }).setProtectedHeader({ alg: 'RS256', kid: 'access-1' }).setIssuer(`https://${TEAM}`).setAudience(AUD).setIssuedAt().setExpirationTime('5m').sign(key);
    const fetchJwks = (async (input: RequestInfo | URL) =>
      String(input instanceof Request ? input.url : input) === `https://${TEAM}/cdn-cgi/access/certs` ? new Response(JSON.stringify(jwks), { headers: { 'content-type': 'application/json' } }) : new Response('no', { status: 404 })) as typeof fetch;
    // Access only: no ADMIN_TOKEN, so no sign-in form.
    const cfg = parseConfig({ K3S_SERVER_URL: 'https://k3s:6443', CLUSTER_API_URL: 'https://api', CLUSTER_SA_TOKEN: 'sa', CLUSTER_CA_HASH: 'a'.repeat(64), ACCESS_TEAM_DOMAIN: TEAM, ACCESS_AUD: AUD });
    const { services } = build();
    const app = createApp({ loadConfig: () => cfg, services: () => services, logger: { log: () => undefined }, fetch: fetchJwks });
    return { app, services, good: await sign(good.privateKey), rogue: await sign(rogue.privateKey) };
  }

  it('accepts the CF_Authorization cookie or the assertion header; posts need the CSRF token bound to that JWT; actor is the Access identity', async () => {
    const { app, services, good, rogue } = await accessApp();
    const origin = 'https://enroll.example.com';
    const page = await app.request(`${origin}/ui/register`, { headers: { cookie: `CF_Authorization=${good}` } });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect((await app.request(`${origin}/ui`, { headers: { 'cf-access-jwt-assertion': good } })).status).toBe(200);
    expect((await app.request(`${origin}/ui`, { headers: { cookie: `CF_Authorization=${rogue}` } })).headers.get('location')).toBe('/ui/login');
    const body = (csrf: string) => new URLSearchParams({ _csrf: csrf, _once: hidden(html, '_once'), id: 'access-1' }).toString();
    const onceCookie = `__Host-k3se_once_register=${hidden(html, '_once')}`;
    const post = (csrf: string, jwt: string) => app.request(`${origin}/ui/register`, { method: 'POST', headers: { origin, cookie: `CF_Authorization=${jwt}; ${onceCookie}`, 'content-type': 'application/x-www-form-urlencoded' }, body: body(csrf) });
    // A CSRF token minted for another credential does not carry over.
    expect((await post('x'.repeat(43), good)).status).toBe(403);
    expect((await post(hidden(html, '_csrf'), good)).status).toBe(201);
    const events = await services.audit.list({ limit: 10 });
    expect(events.find((e) => e.event === 'machine.register')?.actor).toBe('access:ops@example.com');
    const login = await (await app.request(`${origin}/ui/login`)).text();
    expect(login).not.toContain('Admin token');
    expect(login).toContain('Cloudflare Access');
  });
});
