// End to end in workerd (real Durable Objects, D1) against the dev cluster: register → enroll →
// the K10 token pins the dev cluster's CA and really logs in; replays, revocations, races and
// malformed or forged input mint nothing.
import { env, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { importJWK, SignJWT, type JWK } from 'jose';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { checkedFetch } from '../support/workers/openapi-contract.ts';
import { parseJoinToken } from '../../src/token/index.ts';
import { bootstrapSecrets, cacerts, clearFaults, cluster, fault, whoAmI } from '../support/workers/dev-cluster.ts';

const ADMIN = { authorization: 'Bearer test-admin-token-0123456789', 'content-type': 'application/json' };
const ISSUER = 'https://idp.k3s-enroll.test';
const keys = JSON.parse(cluster.issuerPrivateKeys) as Record<'rsa' | 'ec' | 'rogue', JWK>;
let ipCounter = 0;
const freshIp = () => `198.51.100.${++ipCounter % 250}`;

async function register(id: string, body: Record<string, unknown>) {
  const res = await checkedFetch(`https://enroll.test/v1/machines/${id}`, { method: 'PUT', headers: ADMIN, body: JSON.stringify(body) });
  expect(res.status, await res.clone().text()).toBeLessThan(300);
  return res.json() as Promise<Record<string, unknown>>;
}
function enroll(body: unknown, ip = freshIp()) {
  return checkedFetch('https://enroll.test/v1/enroll', { method: 'POST', headers: { 'content-type': 'application/json', 'cf-connecting-ip': ip }, body: typeof body === 'string' ? body : JSON.stringify(body) });
}
const secretsOf = async (machine: string) => bootstrapSecrets(`k3s-enroll.io/machine=${machine}`);
const hex = (b: ArrayBuffer) => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, '0')).join('');
const code = (n: number) => `enroll-code-${n}-0123456789abcdef`;

async function jwtFor(machineId: string, over: { key?: keyof typeof keys; alg?: string; aud?: string; iss?: string; exp?: number; iat?: number; jti?: string; sub?: string } = {}) {
  const key = keys[over.key ?? 'rsa'];
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ machine_id: machineId })
    .setProtectedHeader({ alg: over.alg ?? (key.alg as string), kid: key.kid as string, typ: 'JWT' })
    .setIssuer(over.iss ?? ISSUER)
    .setAudience(over.aud ?? 'k3s-enroll')
    .setSubject(over.sub ?? `device-${machineId}`)
    .setIssuedAt(over.iat ?? now)
    .setExpirationTime(over.exp ?? now + 300)
    .setJti(over.jti ?? crypto.randomUUID())
    .sign(await importJWK(key, key.alg as string));
}

afterEach(() => clearFaults());

describe('enrollment with a one-time code', () => {
  it('register → enroll gives a K10 token that pins /cacerts and logs in as system:bootstrap:<id>', async () => {
    const created = await register('code-1', { enrollmentCode: code(1), groups: ['system:bootstrappers:k3s:default-node-token', 'system:bootstrappers:edge'], labels: { site: 'plant-7' }, tokenTtl: '15m' });
    expect(created).toMatchObject({ id: 'code-1', hasEnrollmentCode: true, enrollmentCodeUsed: false, tokenTtl: '15m0s' });
    expect(JSON.stringify(created)).not.toContain(code(1));

    const res = await enroll({ method: 'code', machineId: 'code-1', code: code(1) });
    expect(res.status).toBe(201);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = (await res.json()) as { token: string; server: string; machineId: string; tokenId: string; expiresAt: string };
    expect(body).toMatchObject({ server: 'https://k3s.example.test:6443', machineId: 'code-1' });
    const parsed = parseJoinToken(body.token);
    expect(parsed.caHash).toBe(hex(await crypto.subtle.digest('SHA-256', await cacerts())));
    expect(parsed.bootstrap!.id).toBe(body.tokenId);
    const ttl = Date.parse(body.expiresAt) - Date.now();
    expect(ttl).toBeGreaterThan(14 * 60_000);
    expect(ttl).toBeLessThanOrEqual(15 * 60_000 + 2_000);
    const who = await whoAmI(`${parsed.bootstrap!.id}.${parsed.bootstrap!.secret}`);
    expect(who).toEqual({ status: 201, username: `system:bootstrap:${body.tokenId}`, groups: ['system:bootstrappers', 'system:bootstrappers:edge', 'system:bootstrappers:k3s:default-node-token', 'system:authenticated'] });
    const secrets = await secretsOf('code-1');
    expect(secrets).toHaveLength(1);
    expect(atob(secrets[0]!.data['usage-bootstrap-authentication']!)).toBe('true');

    // A replay mints nothing.
    const replay = await enroll({ method: 'code', machineId: 'code-1', code: code(1) });
    expect(replay.status).toBe(409);
    expect(await replay.json()).toMatchObject({ code: 'code_used' });
    expect(await secretsOf('code-1')).toHaveLength(1);

    // Revocation deletes the live token at once; the machine can no longer enroll.
    const del = await checkedFetch('https://enroll.test/v1/machines/code-1', { method: 'DELETE', headers: ADMIN });
    expect(del.status).toBe(200);
    expect(await del.json()).toMatchObject({ revoked: true, deletedTokens: [body.tokenId] });
    expect((await whoAmI(`${parsed.bootstrap!.id}.${parsed.bootstrap!.secret}`)).status).toBe(401);
    expect(await secretsOf('code-1')).toHaveLength(0);
    const after = await enroll({ method: 'code', machineId: 'code-1', code: code(1) });
    expect(after.status).toBe(401);
    expect(await after.json()).toMatchObject({ code: 'attestation_rejected' });
  });

  it('50 parallel uses of one code mint exactly one token', async () => {
    await register('race-code', { enrollmentCode: code(2) });
    const results = await Promise.all(Array.from({ length: 50 }, () => enroll({ method: 'code', machineId: 'race-code', code: code(2) })));
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    // 503 cluster_busy: more concurrent creates than the write governor schedules within its horizon.
    expect(results.every((r) => r.status === 201 || r.status === 409 || r.status === 429 || (r.status === 503 && r.headers.get('retry-after') !== null))).toBe(true);
    await Promise.all(results.map((r) => r.body?.cancel()));
    expect(await secretsOf('race-code')).toHaveLength(1);
  });

  it('a cluster failure while minting → 503 + Retry-After, nothing minted, and the code still works', async () => {
    await register('flaky', { enrollmentCode: code(3) });
    await fault({ method: 'POST', pathPrefix: '/api/v1/namespaces/kube-system/secrets', mode: 'status', status: 500, times: 1 });
    const failed = await enroll({ method: 'code', machineId: 'flaky', code: code(3) });
    expect(failed.status).toBe(503);
    expect(Number(failed.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await failed.json()).toMatchObject({ code: 'upstream_unavailable' });
    expect(await secretsOf('flaky')).toHaveLength(0);
    const retried = await enroll({ method: 'code', machineId: 'flaky', code: code(3) });
    expect(retried.status).toBe(201);
  });

  it('unknown, registered-with-another-code and revoked machines get one answer (401 attestation_rejected); the reasons reach the audit log', async () => {
    await register('wrong-code', { enrollmentCode: code(5) });
    await register('revoked-code', { enrollmentCode: code(4) });
    expect((await checkedFetch('https://enroll.test/v1/machines/revoked-code', { method: 'DELETE', headers: ADMIN })).status).toBe(200);
    const answers = [];
    for (const machineId of ['never-registered', 'wrong-code', 'revoked-code']) {
      const res = await enroll({ method: 'code', machineId, code: code(4) });
      const body = (await res.json()) as Record<string, unknown>;
      answers.push({ status: res.status, ...body, request_id: '-' });
    }
    expect(answers[0]).toMatchObject({ status: 401, code: 'attestation_rejected' });
    expect(answers[1]).toEqual(answers[0]);
    expect(answers[2]).toEqual(answers[0]);
    expect(JSON.stringify(answers)).not.toMatch(/mismatch|revoked|registered/);
    // Refusals decided in the machine's object reach the audit log from its outbox, just after the answer.
    let items: Array<Record<string, unknown>> = [];
    for (let i = 0; i < 50 && items.filter((e) => ['wrong-code', 'revoked-code', 'never-registered'].includes(e.machineId as string) && e.outcome === 'failure').length < 3; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 100));
      items = ((await (await checkedFetch('https://enroll.test/v1/audit?limit=50', { headers: ADMIN })).json()) as { items: Array<Record<string, unknown>> }).items;
    }
    expect(items).toContainEqual(expect.objectContaining({ machineId: 'wrong-code', outcome: 'failure', code: 'attestation_rejected', reason: 'enrollment code mismatch' }));
    expect(items).toContainEqual(expect.objectContaining({ machineId: 'revoked-code', outcome: 'failure', code: 'attestation_rejected', reason: 'machine revoked' }));
    expect(items).toContainEqual(expect.objectContaining({ machineId: 'never-registered', outcome: 'failure', code: 'attestation_rejected', reason: 'no registration for this machine' }));
    expect(JSON.stringify(items)).not.toContain(code(5));
  });

  it('a second enrollment replaces the first token (one live token per machine)', async () => {
    await register('twice', { enrollmentCode: code(7) });
    const first = (await (await enroll({ method: 'code', machineId: 'twice', code: code(7) })).json()) as { tokenId: string; token: string };
    await register('twice', { enrollmentCode: code(8) });
    const second = (await (await enroll({ method: 'code', machineId: 'twice', code: code(8) })).json()) as { tokenId: string };
    // The old token's delete may finish just after the response (waitUntil): allow it a moment.
    let ids: string[] = [];
    for (let i = 0; i < 40; i++) {
      ids = (await secretsOf('twice')).map((s) => s.metadata.name);
      if (ids.length === 1) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(ids).toEqual([`bootstrap-token-${second.tokenId}`]);
    const p = parseJoinToken(first.token).bootstrap!;
    expect((await whoAmI(`${p.id}.${p.secret}`)).status).toBe(401);
  });

  it('the alarm deletes a token from the cluster once it expires', async () => {
    await register('expiring', { enrollmentCode: code(9) });
    const body = (await (await enroll({ method: 'code', machineId: 'expiring', code: code(9) })).json()) as { tokenId: string };
    const stub = env.MACHINES.get(env.MACHINES.idFromName('expiring'));
    // Pretend the expiry has passed (workerd's clock cannot be advanced from a test).
    await runInDurableObject(stub, (_obj, state) => {
      const s = state.storage.kv.get<{ liveToken: { expiresAt: number } }>('state')!;
      state.storage.kv.put('state', { ...s, liveToken: { ...s.liveToken, expiresAt: Date.now() - 1 } });
    });
    // The outbox's own alarm may be running at this moment (then none is pending and
    // runDurableObjectAlarm has nothing to run): run the pending one, if any, until the token is gone.
    await vi.waitUntil(
      async () => {
        await runDurableObjectAlarm(stub);
        return !(await secretsOf('expiring')).some((s) => s.metadata.name === `bootstrap-token-${body.tokenId}`);
      },
      { timeout: 15_000, interval: 100 },
    );
    const view = (await (await checkedFetch('https://enroll.test/v1/machines/expiring', { headers: ADMIN })).json()) as { liveToken: unknown };
    expect(view.liveToken).toBeNull();
  });
});

describe('enrollment with an identity token (JWT)', () => {
  it('a token from the configured issuer enrolls once; a replay is refused', async () => {
    await register('jwt-1', { jwtSubject: `${ISSUER}|device-jwt-1` });
    const jwt = await jwtFor('jwt-1');
    const res = await enroll({ method: 'jwt', jwt });
    expect(res.status).toBe(201);
    const body = (await res.json()) as { tokenId: string; token: string };
    const p = parseJoinToken(body.token).bootstrap!;
    expect((await whoAmI(`${p.id}.${p.secret}`)).username).toBe(`system:bootstrap:${body.tokenId}`);
    const replay = await enroll({ method: 'jwt', jwt });
    expect(replay.status).toBe(401);
    expect(await replay.json()).toMatchObject({ code: 'attestation_rejected' });
    expect(await secretsOf('jwt-1')).toHaveLength(1);
  });

  it('a used token re-encoded (unused base64url bits, whitespace in the signature) is a replay too', async () => {
    await register('jwt-reenc', { jwtSubject: `${ISSUER}|device-jwt-reenc` });
    const jwt = await jwtFor('jwt-reenc', { jti: '' });
    expect((await enroll({ method: 'jwt', jwt })).status).toBe(201);
    const [h, p, sig] = jwt.split('.') as [string, string, string];
    const variants = [...'ABCDEFGHIJKLMNOP'].map((c) => `${h}.${p}.${sig.slice(0, -1)}${c}`).filter((v) => v !== jwt);
    variants.push(`${h}.${p}.${sig.slice(0, 10)} ${sig.slice(10)}`, `${h}.${p}.${sig}\n`);
    for (const v of variants) {
      const res = await enroll({ method: 'jwt', jwt: v });
      expect(res.status, JSON.stringify(v.slice(-4))).toBe(401);
      await res.body?.cancel();
    }
    expect(await secretsOf('jwt-reenc')).toHaveLength(1);
  });

  it('the jwt method is off for a machine without a jwtSubject; a bare sub is refused at registration', async () => {
    await register('jwt-none', {});
    const res = await enroll({ method: 'jwt', jwt: await jwtFor('jwt-none') });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ code: 'attestation_rejected' });
    expect(await secretsOf('jwt-none')).toHaveLength(0);
    const bare = await checkedFetch('https://enroll.test/v1/machines/jwt-bare', { method: 'PUT', headers: ADMIN, body: JSON.stringify({ jwtSubject: 'device-jwt-bare' }) });
    expect(bare.status).toBe(400);
    const problem = (await bare.json()) as { code: string; detail: string };
    expect(problem.code).toBe('invalid_request');
    expect(problem.detail).toContain('jwtSubject');
  });

  it('an ES256 token works too', async () => {
    await register('jwt-ec', { jwtSubject: `${ISSUER}|device-jwt-ec` });
    expect((await enroll({ method: 'jwt', jwt: await jwtFor('jwt-ec', { key: 'ec' }) })).status).toBe(201);
  });

  it('50 parallel uses of one JWT mint exactly one token', async () => {
    await register('race-jwt', { jwtSubject: `${ISSUER}|device-race-jwt` });
    const jwt = await jwtFor('race-jwt');
    const results = await Promise.all(Array.from({ length: 50 }, () => enroll({ method: 'jwt', jwt })));
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    expect(results.every((r) => r.status < 500 || (r.status === 503 && r.headers.get('retry-after') !== null))).toBe(true);
    await Promise.all(results.map((r) => r.body?.cancel()));
    expect(await secretsOf('race-jwt')).toHaveLength(1);
  });

  it('a subject other than the registered one is refused', async () => {
    await register('jwt-sub', { jwtSubject: `${ISSUER}|device-expected` });
    const res = await enroll({ method: 'jwt', jwt: await jwtFor('jwt-sub', { sub: 'device-other' }) });
    expect(res.status).toBe(401);
    expect(await secretsOf('jwt-sub')).toHaveLength(0);
  });
});

describe('malformed, forged and hostile input: 4xx only, nothing minted', () => {
  const now = Math.floor(Date.now() / 1000);
  const b64u = (s: string) => btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  const unsigned = (alg: string) => `${b64u(JSON.stringify({ alg, typ: 'JWT' }))}.${b64u(JSON.stringify({ iss: ISSUER, aud: 'k3s-enroll', machine_id: 'victim', sub: 'x', iat: now, exp: now + 300 }))}.`;
  async function hs256WithPublicKey() {
    const pub = JSON.stringify({ kty: keys.rsa.kty, n: keys.rsa.n, e: keys.rsa.e });
    const header = b64u(JSON.stringify({ alg: 'HS256', kid: 'rsa-1' }));
    const payload = b64u(JSON.stringify({ iss: ISSUER, aud: 'k3s-enroll', machine_id: 'victim', sub: 'x', iat: now, exp: now + 300, jti: 'hs' }));
    const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(pub), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    const sig = new Uint8Array(await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(`${header}.${payload}`)));
    return `${header}.${payload}.${b64u(String.fromCharCode(...sig))}`;
  }

  const cases: Array<[string, () => Promise<unknown> | unknown, number, string]> = [
    ['broken JSON', () => '{"method":', 400, 'invalid_request'],
    ['an array body', () => '[]', 400, 'invalid_request'],
    ['unknown method', () => ({ method: 'magic', machineId: 'victim' }), 400, 'invalid_request'],
    ['no method', () => ({ machineId: 'victim', code: code(99) }), 400, 'invalid_request'],
    ['method of wrong type', () => ({ method: 7 }), 400, 'invalid_request'],
    ['machineId uppercase', () => ({ method: 'code', machineId: 'Victim', code: code(99) }), 400, 'invalid_request'],
    ['machineId too long', () => ({ method: 'code', machineId: 'a'.repeat(64), code: code(99) }), 400, 'invalid_request'],
    ['machineId unicode', () => ({ method: 'code', machineId: 'vіctim', code: code(99) }), 400, 'invalid_request'],
    ['code too short', () => ({ method: 'code', machineId: 'victim', code: 'short' }), 400, 'invalid_request'],
    ['code oversized', () => ({ method: 'code', machineId: 'victim', code: 'x'.repeat(300) }), 400, 'invalid_request'],
    ['code of wrong type', () => ({ method: 'code', machineId: 'victim', code: 12345678901234567 }), 400, 'invalid_request'],
    ['jwt of wrong type', () => ({ method: 'jwt', jwt: { a: 1 } }), 400, 'invalid_request'],
    ['jwt oversized', () => ({ method: 'jwt', jwt: 'a'.repeat(20_000) }), 400, 'invalid_request'],
    ['jwt garbage', () => ({ method: 'jwt', jwt: 'not.a.jwt' }), 401, 'attestation_rejected'],
    ['jwt alg none', () => ({ method: 'jwt', jwt: unsigned('none') }), 401, 'attestation_rejected'],
    ['jwt HS256 signed with the public key', async () => ({ method: 'jwt', jwt: await hs256WithPublicKey() }), 401, 'attestation_rejected'],
    ['jwt forged with an unpublished key', async () => ({ method: 'jwt', jwt: await jwtFor('victim', { key: 'rogue' }) }), 401, 'attestation_rejected'],
    ['jwt expired', async () => ({ method: 'jwt', jwt: await jwtFor('victim', { exp: now - 120, iat: now - 600 }) }), 401, 'attestation_rejected'],
    ['jwt issued too long ago', async () => ({ method: 'jwt', jwt: await jwtFor('victim', { iat: now - 7200, exp: now + 600 }) }), 401, 'attestation_rejected'],
    ['jwt wrong audience', async () => ({ method: 'jwt', jwt: await jwtFor('victim', { aud: 'someone-else' }) }), 401, 'attestation_rejected'],
    ['jwt unknown issuer', async () => ({ method: 'jwt', jwt: await jwtFor('victim', { iss: 'https://evil.example' }) }), 401, 'attestation_rejected'],
    ['oversized body', () => JSON.stringify({ method: 'code', machineId: 'victim', code: code(99), pad: 'x'.repeat(70_000) }), 413, 'payload_too_large'],
  ];

  it.each(cases)('%s → %i %s', async (_name, make, status, errorCode) => {
    await register('victim', { enrollmentCode: code(99) });
    const res = await enroll(await make());
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(await res.json()).toMatchObject({ code: errorCode, status });
    expect(await secretsOf('victim')).toHaveLength(0);
  });

  it('a non-JSON content type → 415', async () => {
    const res = await checkedFetch('https://enroll.test/v1/enroll', { method: 'POST', headers: { 'content-type': 'text/plain', 'cf-connecting-ip': freshIp() }, body: '{}' });
    expect(res.status).toBe(415);
    expect(await res.json()).toMatchObject({ code: 'unsupported_media_type' });
  });

  it('too many requests from one address → 429 rate_limited with Retry-After', async () => {
    const ip = '203.0.113.77';
    // In waves of 10: each failure counts (the write governor's slots are given back, none is short).
    const results: Response[] = [];
    // The counter is a fixed window: if it rolls over mid-test, keep going (at most two windows' worth).
    for (let wave = 0; wave < 14 && results.filter((r) => r.status === 429).length < 10; wave++) {
      results.push(...(await Promise.all(Array.from({ length: 10 }, () => enroll({ method: 'code', machineId: 'never-registered', code: code(1) }, ip)))));
    }
    const limited = results.filter((r) => r.status === 429);
    expect(limited.length).toBeGreaterThanOrEqual(10);
    expect(Number(limited[0]!.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await limited[0]!.json()).toMatchObject({ code: 'rate_limited' });
    await Promise.all(results.filter((r) => r !== limited[0]).map((r) => r.body?.cancel()));
  });
});

describe('admin API', () => {
  it('requires the admin token (401 unauthorized with WWW-Authenticate), compared exactly', async () => {
    for (const headers of [{}, { authorization: 'Bearer wrong-admin-token-000000' }, { authorization: 'Bearer test-admin-token-012345678' }] as Record<string, string>[]) {
      const res = await checkedFetch('https://enroll.test/v1/machines', { headers });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toContain('Bearer');
      expect(await res.json()).toMatchObject({ code: 'unauthorized' });
    }
  });

  it('validates registrations strictly', async () => {
    for (const body of [{ enrollmentCode: 'short' }, { groups: ['system:nodes'] }, { tokenTtl: '2d' }, { labels: { 'bad key': 'x' } }, { ekPublicKeySha256: 'XYZ' }, { unknownField: 1 }, { id: 'other' }]) {
      const res = await checkedFetch('https://enroll.test/v1/machines/valid-id', { method: 'PUT', headers: ADMIN, body: JSON.stringify(body) });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(await res.json()).toMatchObject({ code: 'invalid_request' });
    }
    const badId = await checkedFetch('https://enroll.test/v1/machines/Bad_Id', { method: 'PUT', headers: ADMIN, body: '{}' });
    expect(badId.status).toBe(400);
  });

  it('lists machines and returns 200 on replace, 201 on create', async () => {
    const first = await checkedFetch('https://enroll.test/v1/machines/listed-1', { method: 'PUT', headers: ADMIN, body: JSON.stringify({ labels: { a: 'b' } }) });
    expect(first.status).toBe(201);
    const again = await checkedFetch('https://enroll.test/v1/machines/listed-1', { method: 'PUT', headers: ADMIN, body: JSON.stringify({ labels: { a: 'c' } }) });
    expect(again.status).toBe(200);
    const list = (await (await checkedFetch('https://enroll.test/v1/machines?limit=1000', { headers: ADMIN })).json()) as { items: Array<{ id: string; labels: Record<string, string> }> };
    expect(list.items.find((m) => m.id === 'listed-1')?.labels).toEqual({ a: 'c' });
    const missing = await checkedFetch('https://enroll.test/v1/machines/not-there', { headers: ADMIN });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ code: 'machine_unknown' });
  });
});
