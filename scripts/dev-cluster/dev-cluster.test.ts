// The dev cluster's faithfulness to the real API server, rule by rule (reference/k8s-bootstrap.md
// §1, §2, §3.1, §5; k3s-token.md §2.2, §3.6): each test states the outcome a real k3s gives.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error: plain JavaScript module with JSDoc types
import { startDevCluster } from './index.mjs';
// @ts-expect-error: plain JavaScript module with JSDoc types
import { openStore, SAVE_DELAY_MS } from './store.mjs';

type Cluster = { url: string; caFile: string; caPem: string; serviceAccountToken: string; readonlyServiceAccountToken: string; serverToken: string; controlToken: string; close(): Promise<void> };
let dir = '';
let c: Cluster;

function call(method: string, path: string, opts: { bearer?: string; body?: unknown; headers?: Record<string, string>; auth?: string } = {}): Promise<{ status: number; text: string; json: any; headers: Record<string, string | string[] | undefined> }> {
  const u = new URL(path, c.url);
  const body = opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
  return new Promise((resolve, reject) => {
    const req = request({ hostname: u.hostname, port: u.port, path: u.pathname + u.search, method, ca: c.caPem, headers: { ...(opts.bearer ? { authorization: `Bearer ${opts.bearer}` } : {}), ...(opts.auth ? { authorization: opts.auth } : {}), ...(body ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) } : {}), ...opts.headers } }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => {
        let json: unknown = null;
        try {
          json = JSON.parse(text);
        } catch {}
        resolve({ status: res.statusCode ?? 0, text, json, headers: res.headers });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}
const sa = () => c.serviceAccountToken;
const SECRETS = '/api/v1/namespaces/kube-system/secrets';
const whoami = (bearer: string) => call('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', { bearer, body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } });
let n = 0;
const nextId = () => `t${String(++n).padStart(5, '0')}`;
async function tokenSecret(data: Record<string, string>, over: { type?: string; id?: string } = {}) {
  const id = over.id ?? nextId();
  const res = await call('POST', SECRETS, { bearer: sa(), body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: `bootstrap-token-${id}` }, type: over.type ?? 'bootstrap.kubernetes.io/token', stringData: { 'token-id': id, 'token-secret': '0123456789abcdef', 'usage-bootstrap-authentication': 'true', ...data } } });
  expect(res.status).toBe(201);
  return `${id}.0123456789abcdef`;
}
const UNAUTHORIZED = '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'devcluster-test-'));
  c = await startDevCluster({ port: 0, stateDir: dir, tokenCleanerIntervalMs: 100 });
});
afterAll(async () => {
  await c.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('/cacerts and the CA', () => {
  it('serves the exact CA file bytes without auth; the server token hashes them (k3s single-cert rule)', async () => {
    const res = await call('GET', '/cacerts');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/plain');
    expect(res.text).toBe(readFileSync(c.caFile, 'utf8'));
    expect((res.text.match(/BEGIN CERTIFICATE/g) ?? []).length).toBe(1);
    expect(res.text.endsWith('-----END CERTIFICATE-----\n')).toBe(true);
    expect(c.serverToken.startsWith(`K10${createHash('sha256').update(res.text).digest('hex')}::server:`)).toBe(true);
  });
  it('kube-root-ca.crt carries the same bytes', async () => {
    const res = await call('GET', '/api/v1/namespaces/kube-system/configmaps/kube-root-ca.crt', { bearer: sa() });
    expect(res.json.data['ca.crt']).toBe(c.caPem);
    expect(res.json.metadata.annotations['kubernetes.io/description']).toBeTruthy();
  });
});

describe('bootstrap token authenticator (reference §2)', () => {
  it('a valid token → system:bootstrap:<id>, sorted deduped groups + system:authenticated', async () => {
    const t = await tokenSecret({ 'auth-extra-groups': 'system:bootstrappers:z,system:bootstrappers:a,system:bootstrappers:a', expiration: '2099-01-01T00:00:00Z' });
    const r = await whoami(t);
    expect(r.status).toBe(201);
    // selfsubjectreview/rest.go sets CreationTimestamp to the server's now (seen on a real kube-apiserver).
    expect(r.json.metadata.creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect({ ...r.json, metadata: {} }).toEqual({ kind: 'SelfSubjectReview', apiVersion: 'authentication.k8s.io/v1', metadata: {}, status: { userInfo: { username: `system:bootstrap:${t.slice(0, 6)}`, groups: ['system:bootstrappers', 'system:bootstrappers:a', 'system:bootstrappers:z', 'system:authenticated'] } } });
  });
  it.each([
    ['uppercase group', { 'auth-extra-groups': 'system:bootstrappers:Edge' }],
    ['trailing comma', { 'auth-extra-groups': 'system:bootstrappers:a,' }],
    ['space after comma', { 'auth-extra-groups': 'system:bootstrappers:a, system:bootstrappers:b' }],
    ['bare system:bootstrappers', { 'auth-extra-groups': 'system:bootstrappers' }],
    ['group outside the prefix', { 'auth-extra-groups': 'system:nodes' }],
    ['usage "true\\n"', { 'usage-bootstrap-authentication': 'true\n' }],
    ['usage "True"', { 'usage-bootstrap-authentication': 'True' }],
    ['expired', { expiration: '2000-01-01T00:00:00Z' }],
    ['expiration with a space separator', { expiration: '2099-01-01 00:00:00Z' }],
    ['expiration with lowercase z', { expiration: '2099-01-01T00:00:00z' }],
    ['expiration as epoch seconds', { expiration: '4070908800' }],
    ['expiration without a zone', { expiration: '2099-01-01T00:00:00' }],
    ['expiration month 13', { expiration: '2099-13-01T00:00:00Z' }],
    ['wrong token-id in data', { 'token-id': 'zzzzzz' }],
    ['wrong secret', { 'token-secret': 'ffffffffffffffff' }],
  ])('%s → 401 with the exact Unauthorized body', async (_n, data) => {
    const t = await tokenSecret(data);
    const r = await whoami(t);
    expect(r.status).toBe(401);
    expect(r.text).toBe(UNAUTHORIZED);
  });
  it('usage absent → 401', async () => {
    const id = nextId();
    await call('POST', SECRETS, { bearer: sa(), body: { metadata: { name: `bootstrap-token-${id}` }, type: 'bootstrap.kubernetes.io/token', stringData: { 'token-id': id, 'token-secret': '0123456789abcdef' } } });
    expect((await whoami(`${id}.0123456789abcdef`)).status).toBe(401);
  });
  it('wrong Secret type → 401', async () => {
    expect((await whoami(await tokenSecret({}, { type: 'Opaque' }))).status).toBe(401);
  });
  it('auth-extra-groups present but empty → the default group only (secrets.GetGroups)', async () => {
    expect((await whoami(await tokenSecret({ 'auth-extra-groups': '' }))).json.status.userInfo.groups).toEqual(['system:bootstrappers', 'system:authenticated']);
  });
  it.each([
    ['fractional seconds', '2099-01-01T00:00:00.123456789Z'],
    ['a numeric offset', '2099-01-01T02:00:00+02:00'],
  ])('expiration with %s is valid → 201', async (_n, expiration) => {
    expect((await whoami(await tokenSecret({ expiration }))).status).toBe(201);
  });
  it('a deleted Secret no longer authenticates', async () => {
    const t = await tokenSecret({});
    expect((await whoami(t)).status).toBe(201);
    expect((await call('DELETE', `${SECRETS}/bootstrap-token-${t.slice(0, 6)}`, { bearer: sa() })).status).toBe(200);
    expect((await whoami(t)).status).toBe(401);
  });
  it('no Authorization → 401 (k3s runs without anonymous auth); an unknown bearer → 401', async () => {
    expect((await call('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', { body: {} })).status).toBe(401);
    expect((await whoami('nope')).text).toBe(UNAUTHORIZED);
    expect((await call('GET', SECRETS, { auth: 'Bearer  two-spaces' })).status).toBe(401);
  });
});

describe('token cleaner (§3.1)', () => {
  it('deletes expired and unparseable-expiration token Secrets, keeps the rest', async () => {
    const expired = await tokenSecret({ expiration: '2001-01-01T00:00:00Z' });
    const garbage = await tokenSecret({ expiration: 'tomorrow' });
    const forever = await tokenSecret({});
    await new Promise((r) => setTimeout(r, 400));
    const names = (await call('GET', `${SECRETS}?fieldSelector=type%3Dbootstrap.kubernetes.io%2Ftoken`, { bearer: sa() })).json.items.map((i: any) => i.metadata.name);
    expect(names).not.toContain(`bootstrap-token-${expired.slice(0, 6)}`);
    expect(names).not.toContain(`bootstrap-token-${garbage.slice(0, 6)}`);
    expect(names).toContain(`bootstrap-token-${forever.slice(0, 6)}`);
  });
});

describe('Secrets API (§5)', () => {
  it('create: uid, resourceVersion, creationTimestamp; stringData merged into data and not returned; type defaults to Opaque', async () => {
    const r = await call('POST', SECRETS, { bearer: sa(), body: { metadata: { name: 'plain-1' }, stringData: { a: 'hello' }, data: { b: 'd29ybGQ=' } } });
    expect(r.status).toBe(201);
    expect(r.json.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.json.metadata.resourceVersion).toMatch(/^\d+$/);
    expect(r.json.metadata.creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(r.json.data).toEqual({ a: 'aGVsbG8=', b: 'd29ybGQ=' });
    expect(r.json.stringData).toBeUndefined();
    expect(r.json.type).toBe('Opaque');
  });
  it('409 AlreadyExists body', async () => {
    await call('POST', SECRETS, { bearer: sa(), body: { metadata: { name: 'dup-1' } } });
    const r = await call('POST', SECRETS, { bearer: sa(), body: { metadata: { name: 'dup-1' } } });
    expect(r.status).toBe(409);
    expect(r.text).toBe('{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"secrets \\"dup-1\\" already exists","reason":"AlreadyExists","details":{"name":"dup-1","kind":"secrets"},"code":409}');
  });
  it('404 NotFound body', async () => {
    const r = await call('GET', `${SECRETS}/bootstrap-token-abcdef`, { bearer: sa() });
    expect(r.text).toBe('{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"secrets \\"bootstrap-token-abcdef\\" not found","reason":"NotFound","details":{"name":"bootstrap-token-abcdef","kind":"secrets"},"code":404}');
  });
  it('422 Invalid for an uppercase name, with the Kind in details and a cause', async () => {
    const r = await call('POST', SECRETS, { bearer: sa(), body: { metadata: { name: 'Bad' } } });
    expect(r.status).toBe(422);
    expect(r.json).toMatchObject({ reason: 'Invalid', details: { name: 'Bad', kind: 'Secret', causes: [{ reason: 'FieldValueInvalid', field: 'metadata.name' }] }, code: 422 });
    expect(r.json.message).toMatch(/^Secret "Bad" is invalid: metadata.name: Invalid value: "Bad": a lowercase RFC 1123 subdomain/);
  });
  it('422 for a missing name', async () => {
    const r = await call('POST', SECRETS, { bearer: sa(), body: { metadata: {} } });
    expect(r.json.message).toContain('metadata.name: Required value: name or generateName is required');
  });
  it('400 for a namespace mismatch and for undecodable base64 data', async () => {
    const a = await call('POST', SECRETS, { bearer: sa(), body: { metadata: { name: 'ns-x', namespace: 'default' } } });
    expect(a.status).toBe(400);
    expect(a.json.message).toBe('the namespace of the provided object does not match the namespace sent on the request');
    const b = await call('POST', SECRETS, { bearer: sa(), body: { metadata: { name: 'b64-x' }, data: { k: 'not base64!' } } });
    expect(b.status).toBe(400);
  });
  it('list with a field selector; an unsupported field → 400; a label selector narrows', async () => {
    await call('POST', SECRETS, { bearer: sa(), body: { metadata: { name: 'labelled-1', labels: { app: 'x' } }, type: 'bootstrap.kubernetes.io/token' } });
    const list = await call('GET', `${SECRETS}?fieldSelector=type%3Dbootstrap.kubernetes.io%2Ftoken&labelSelector=app%3Dx`, { bearer: sa() });
    expect(list.json.kind).toBe('SecretList');
    expect(list.json.items.map((i: any) => i.metadata.name)).toEqual(['labelled-1']);
    const bad = await call('GET', `${SECRETS}?fieldSelector=data.x%3Dy`, { bearer: sa() });
    expect(bad.status).toBe(400);
  });
  it('DELETE answers a Status, 404 when gone, 409 Conflict on a UID precondition mismatch', async () => {
    const created = await call('POST', SECRETS, { bearer: sa(), body: { metadata: { name: 'del-1' } } });
    const wrong = await call('DELETE', `${SECRETS}/del-1`, { bearer: sa(), body: { preconditions: { uid: '00000000-0000-0000-0000-000000000000' } } });
    expect(wrong.status).toBe(409);
    expect(wrong.json.reason).toBe('Conflict');
    // rest.BeforeDelete (apiserver registry/rest/delete.go) names the Kind; a measured real server
    // answers the same shape ("Operation cannot be fulfilled on Pod …").
    expect(wrong.text).toBe(`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Operation cannot be fulfilled on Secret \\"del-1\\": the UID in the precondition (00000000-0000-0000-0000-000000000000) does not match the UID in record (${created.json.metadata.uid}). The object might have been deleted and then recreated","reason":"Conflict","details":{"name":"del-1","kind":"Secret"},"code":409}`);
    const ok = await call('DELETE', `${SECRETS}/del-1`, { bearer: sa(), body: { preconditions: { uid: created.json.metadata.uid } } });
    expect(ok.text).toBe(`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success","details":{"name":"del-1","kind":"secrets","uid":"${created.json.metadata.uid}"}}`);
    expect((await call('DELETE', `${SECRETS}/del-1`, { bearer: sa() })).status).toBe(404);
  });
});

describe('RBAC', () => {
  it('the readonly service account may list but not create: 403 with the exact message', async () => {
    expect((await call('GET', SECRETS, { bearer: c.readonlyServiceAccountToken })).status).toBe(200);
    const r = await call('POST', SECRETS, { bearer: c.readonlyServiceAccountToken, body: { metadata: { name: 'x' } } });
    expect(r.status).toBe(403);
    expect(r.text).toBe('{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"secrets is forbidden: User \\"system:serviceaccount:k3s-enroll:readonly\\" cannot create resource \\"secrets\\" in API group \\"\\" in the namespace \\"kube-system\\"","reason":"Forbidden","details":{"kind":"secrets"},"code":403}');
  });
  it('a bootstrap token cannot read Secrets (403, with the name for get)', async () => {
    const t = await tokenSecret({});
    const r = await call('GET', `${SECRETS}/anything`, { bearer: t });
    expect(r.status).toBe(403);
    expect(r.json.details).toEqual({ name: 'anything', kind: 'secrets' });
  });
});

describe('supervisor token rotation (k3s-token.md §3.6)', () => {
  const basic = (pw: string) => `Basic ${Buffer.from(`server:${pw}`).toString('base64')}`;
  it('rotates with Basic server:<password>; the old password then fails; 405/401/500 as k3s', async () => {
    const old = c.serverToken.split('::server:')[1]!;
    expect((await call('GET', '/v1-k3s/token', { auth: basic(old) })).status).toBe(405);
    expect((await call('PUT', '/v1-k3s/token', { auth: basic('wrong'), body: { newToken: 'x' } })).status).toBe(401);
    expect((await call('PUT', '/v1-k3s/token', { auth: basic(old), body: { newToken: 'abcdef.0123456789abcdef' } })).status).toBe(500);
    const ok = await call('PUT', '/v1-k3s/token', { auth: basic(old), body: { newToken: `K10${'a'.repeat(64)}::server:new-password-1` } });
    expect(ok.status).toBe(200);
    expect(ok.text).toBe('');
    expect((await call('PUT', '/v1-k3s/token', { auth: basic(old), body: { newToken: '' } })).status).toBe(401);
    expect(c.serverToken.endsWith('::server:new-password-1')).toBe(true);
    const gen = await call('PUT', '/v1-k3s/token', { auth: basic('new-password-1'), body: { newToken: '' } });
    expect(gen.status).toBe(200);
    expect(c.serverToken.split('::server:')[1]).toMatch(/^[0-9a-f]{32}$/);
  });
});

describe('supervisor error bodies (k3s util.SendError)', () => {
  const basicAs = (user: string, pw: string) => `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}`;
  const pw = () => c.serverToken.split('::server:')[1]!;
  it('405 is a MethodNotAllowed Status naming the path, after authentication', async () => {
    const r = await call('GET', '/v1-k3s/token', { auth: basicAs('server', pw()) });
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.text).toBe('{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"the server does not allow this method on the requested resource","reason":"MethodNotAllowed","details":{"name":"/v1-k3s/token","causes":[{"reason":"UnexpectedServerResponse","message":"method not allowed"}]},"code":405}');
    expect((await call('GET', '/v1-k3s/token')).text).toBe('{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"forbidden","reason":"Forbidden","code":403}');
    expect((await call('PUT', '/v1-k3s/token', { auth: basicAs('server', 'wrong'), body: { newToken: '' } })).text).toBe('{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"not authorized","reason":"Unauthorized","code":401}');
  });
  it('node:<password> authenticates (k3s:agent) but may not rotate → 403; the Basic scheme is case-insensitive', async () => {
    expect((await call('PUT', '/v1-k3s/token', { auth: basicAs('node', pw()), body: { newToken: 'x' } })).status).toBe(403);
    expect((await call('GET', '/v1-k3s/token', { auth: basicAs('server', pw()).replace('Basic', 'bASIC') })).status).toBe(405);
  });
  it('400 BadRequest for undecodable JSON, 500 InternalError with a 5-digit ID for a bootstrap-form token', async () => {
    const bad = await call('PUT', '/v1-k3s/token', { auth: basicAs('server', pw()), body: 'not json' });
    expect(bad.status).toBe(400);
    expect(bad.json.reason).toBe('BadRequest');
    const before = c.serverToken;
    const r = await call('PUT', '/v1-k3s/token', { auth: basicAs('server', pw()), body: { newToken: 'abcdef.0123456789abcdef' } });
    expect(r.status).toBe(500);
    const id = /^Internal error occurred: (token error ID \d{5})$/.exec(r.json.message)?.[1];
    expect(id).toBeDefined();
    expect(r.json).toEqual({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `Internal error occurred: ${id}`, reason: 'InternalError', details: { causes: [{ message: id }] }, code: 500 });
    expect(c.serverToken).toBe(before);
  });
  it('a rotation is written to <stateDir>/cluster.json', async () => {
    expect((await call('PUT', '/v1-k3s/token', { auth: basicAs('server', pw()), body: { newToken: 'rotated-for-cluster-json' } })).status).toBe(200);
    expect(JSON.parse(readFileSync(join(dir, 'cluster.json'), 'utf8')).serverToken).toBe(c.serverToken);
    expect(c.serverToken.endsWith('::server:rotated-for-cluster-json')).toBe(true);
  });
});

describe('test controls', () => {
  const control = (method: string, path: string, body?: unknown) => call(method, path, { body, headers: { 'x-dev-cluster-control': c.controlToken } });
  it('an unknown fault mode is refused (400) rather than treated as a write', async () => {
    expect((await control('POST', '/__dev/faults', { method: 'POST', pathPrefix: SECRETS, mode: 'stauts' })).status).toBe(400);
  });
  it('are invisible without the control token', async () => {
    expect((await call('PUT', '/__dev/clock', { body: { offsetSeconds: 5 } })).status).toBe(404);
  });
  it('clock offset moves the Date header and expiry checks', async () => {
    const t = await tokenSecret({ expiration: new Date(Date.now() + 60_000).toISOString() });
    expect((await whoami(t)).status).toBe(201);
    await control('PUT', '/__dev/clock', { offsetSeconds: 3600 });
    const r = await whoami(t);
    expect(r.status).toBe(401);
    expect(Date.parse(r.headers.date as string) - Date.now()).toBeGreaterThan(3500_000);
    await control('PUT', '/__dev/clock', { offsetSeconds: 0 });
  });
  it('faults: status, conflict (nothing stored), status-after-write (stored), drop', async () => {
    await control('POST', '/__dev/faults', { method: 'POST', pathPrefix: SECRETS, mode: 'status', status: 503, times: 1 });
    expect((await call('POST', SECRETS, { bearer: sa(), body: { metadata: { name: 'f-1' } } })).status).toBe(503);
    expect((await call('GET', `${SECRETS}/f-1`, { bearer: sa() })).status).toBe(404);
    await control('POST', '/__dev/faults', { method: 'POST', pathPrefix: SECRETS, mode: 'conflict' });
    expect((await call('POST', SECRETS, { bearer: sa(), body: { metadata: { name: 'f-2' } } })).json.reason).toBe('AlreadyExists');
    expect((await call('GET', `${SECRETS}/f-2`, { bearer: sa() })).status).toBe(404);
    const postsLogged = async () => ((await control('GET', '/__dev/requests')).json as Array<{ method: string; path: string; status: number }>).filter((r) => r.method === 'POST' && r.path === SECRETS);
    const before = (await postsLogged()).length;
    await control('POST', '/__dev/faults', { method: 'POST', pathPrefix: SECRETS, mode: 'status-after-write', status: 500 });
    expect((await call('POST', SECRETS, { bearer: sa(), body: { metadata: { name: 'f-3' } } })).status).toBe(500);
    const after = await postsLogged();
    expect(after.length).toBe(before + 1); // one log entry per request, with the status the client saw
    expect(after.at(-1)).toEqual({ method: 'POST', path: SECRETS, status: 500 });
    expect((await call('GET', `${SECRETS}/f-3`, { bearer: sa() })).status).toBe(200);
    await control('POST', '/__dev/faults', { method: 'GET', pathPrefix: '/ping', mode: 'drop' });
    await expect(call('GET', '/ping')).rejects.toThrow();
    expect((await call('GET', '/ping')).text).toBe('pong');
  });
});

describe('persistence', () => {
  it('changes are written behind, together: a burst of saves is one write, and flush() writes at once', async () => {
    const d = mkdtempSync(join(tmpdir(), 'devcluster-store-'));
    try {
      const store = openStore(d);
      const onDisk = () => JSON.parse(readFileSync(join(d, 'state.json'), 'utf8')).rv as number;
      const rv0 = onDisk();
      for (let i = 0; i < 100; i++) {
        store.nextRv();
        store.save();
      }
      expect(onDisk()).toBe(rv0); // nothing written per change (each write was the whole state)
      await new Promise((r) => setTimeout(r, SAVE_DELAY_MS * 4));
      expect(onDisk()).toBe(rv0 + 100);
      store.nextRv();
      store.save();
      store.flush();
      expect(onDisk()).toBe(rv0 + 101);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it('state survives a restart with the same state dir', async () => {
    const d = mkdtempSync(join(tmpdir(), 'devcluster-restart-'));
    const saved = c;
    try {
      c = await startDevCluster({ port: 0, stateDir: d });
      const sa1 = c.serviceAccountToken;
      const ca1 = c.caPem;
      expect((await call('POST', SECRETS, { bearer: sa1, body: { metadata: { name: 'kept-1' } } })).status).toBe(201);
      await c.close();
      c = await startDevCluster({ port: 0, stateDir: d });
      expect(c.serviceAccountToken).toBe(sa1);
      expect(c.caPem).toBe(ca1);
      expect((await call('GET', `${SECRETS}/kept-1`, { bearer: sa1 })).status).toBe(200);
      await c.close();
    } finally {
      c = saved;
      rmSync(d, { recursive: true, force: true });
    }
  });
});
