// Differential conformance: the dev cluster's rules (scripts/dev-cluster/dev-cluster.test.ts,
// reference/k8s-bootstrap.md §2, §3.1, §5) asserted with the SAME expectations against the dev
// cluster and against a real kube-apiserver v1.32 built from its Go modules (test/oracle). Where
// they disagree, the dev cluster is wrong. The oracle target skips with a printed reason where Go
// or its build is missing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callCluster } from '../support/cluster-call.ts';
import { clusterTargets, type ClusterHandle } from '../support/cluster-targets.ts';

const SECRETS = '/api/v1/namespaces/kube-system/secrets';
const UNAUTHORIZED = '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}';
const K3S_ONLY = 'k3s-only: kube-apiserver serves no /cacerts and no supervisor (k3s itself is not on the Go module proxy, see test/oracle/README.md)';

describe.each(clusterTargets())('$name', (target) => {
  let c: ClusterHandle;
  beforeAll(async () => {
    if (target.skip) return;
    c = await target.start();
  }, 240_000);
  afterAll(async () => {
    await c?.close();
  }, 30_000);

  /** One call through the shared client (test/support/cluster-call.ts): `text` without the trailing newline, `raw` as sent. */
  async function call(method: string, path: string, opts: { bearer?: string; body?: unknown; auth?: string } = {}): Promise<{ status: number; text: string; raw: string; json: any; headers: Record<string, string | string[] | undefined> }> {
    const r = await callCluster(c.url, c.caPem, method, path, opts);
    return { ...r, text: r.text.replace(/\n$/, ''), raw: r.text };
  }
  const sa = () => c.serviceAccountToken;
  const whoami = (bearer: string) => call('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', { bearer, body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } });
  let n = 0;
  const nextId = () => `d${String(++n).padStart(5, '0')}`;
  const createToken = async (id: string, data: Record<string, string>, type = 'bootstrap.kubernetes.io/token') => {
    const res = await call('POST', SECRETS, { bearer: sa(), body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: `bootstrap-token-${id}` }, type, stringData: { 'token-id': id, 'token-secret': '0123456789abcdef', 'usage-bootstrap-authentication': 'true', ...data } } });
    expect(res.status, res.text).toBe(201);
    return `${id}.0123456789abcdef`;
  };
  /**
   * The real authenticator reads Secrets from an informer cache, so a new Secret is seen a moment
   * later. A sentinel token created after it authenticates only once the cache has caught up with
   * both (watch events arrive in order), so a 401 asserted after this is not just cache lag.
   */
  async function synced() {
    const sentinel = await createToken(nextId(), {});
    await eventually(async () => (await whoami(sentinel)).status, 201);
  }
  async function tokenSecret(data: Record<string, string>, over: { type?: string; id?: string } = {}) {
    const t = await createToken(over.id ?? nextId(), data, over.type);
    await synced();
    return t;
  }
  /** Polls `f` until it returns `want` (10 s at most); returns the last value. */
  async function eventually<T>(f: () => Promise<T>, want: T): Promise<T> {
    const deadline = Date.now() + 10_000;
    let v = await f();
    while (v !== want && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      v = await f();
    }
    return v;
  }
  const run = it.skipIf(!!target.skip);
  const runK3s = it.skipIf(!!target.skip || target.kind !== 'dev-cluster');

  describe('the CA', () => {
    run('kube-root-ca.crt in kube-system carries the CA bytes', async () => {
      const res = await call('GET', '/api/v1/namespaces/kube-system/configmaps/kube-root-ca.crt', { bearer: sa() });
      expect(res.status).toBe(200);
      expect(res.json.data['ca.crt']).toBe(c.caPem);
      expect(res.json.metadata.annotations['kubernetes.io/description']).toBeTruthy();
    });
    runK3s(`/cacerts serves the CA file bytes without auth (${K3S_ONLY})`, async () => {
      const res = await call('GET', '/cacerts');
      expect(res.status).toBe(200);
      expect(res.raw).toBe(c.caPem);
    });
  });

  describe('bootstrap token authenticator (login via selfsubjectreviews)', () => {
    run('a valid token → system:bootstrap:<id>, sorted deduped groups + system:authenticated', async () => {
      const t = await tokenSecret({ 'auth-extra-groups': 'system:bootstrappers:z,system:bootstrappers:a,system:bootstrappers:a', expiration: '2099-01-01T00:00:00Z' });
      const r = await whoami(t);
      expect(r.status).toBe(201);
      // selfsubjectreview/rest.go stamps CreationTimestamp with the server's now.
      expect(r.json.metadata.creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      expect({ ...r.json, metadata: {} }).toEqual({ kind: 'SelfSubjectReview', apiVersion: 'authentication.k8s.io/v1', metadata: {}, status: { userInfo: { username: `system:bootstrap:${t.slice(0, 6)}`, groups: ['system:bootstrappers', 'system:bootstrappers:a', 'system:bootstrappers:z', 'system:authenticated'] } } });
    });
    it.skipIf(!!target.skip).each([
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
      const r = await whoami(await tokenSecret(data));
      expect(r.status).toBe(401);
      expect(r.text).toBe(UNAUTHORIZED);
    });
    run('auth-extra-groups present but empty → the default group only (secrets.GetGroups)', async () => {
      const r = await whoami(await tokenSecret({ 'auth-extra-groups': '' }));
      expect(r.status).toBe(201);
      expect(r.json.status.userInfo.groups).toEqual(['system:bootstrappers', 'system:authenticated']);
    });
    run('usage absent → 401', async () => {
      const id = nextId();
      expect((await call('POST', SECRETS, { bearer: sa(), body: { metadata: { name: `bootstrap-token-${id}` }, type: 'bootstrap.kubernetes.io/token', stringData: { 'token-id': id, 'token-secret': '0123456789abcdef' } } })).status).toBe(201);
      await synced();
      expect((await whoami(`${id}.0123456789abcdef`)).status).toBe(401);
    });
    run('wrong Secret type → 401', async () => {
      expect((await whoami(await tokenSecret({}, { type: 'Opaque' }))).status).toBe(401);
    });
    it.skipIf(!!target.skip).each([
      ['fractional seconds', '2099-01-01T00:00:00.123456789Z'],
      ['a numeric offset', '2099-01-01T02:00:00+02:00'],
    ])('expiration with %s is valid → 201', async (_n, expiration) => {
      expect((await whoami(await tokenSecret({ expiration }))).status).toBe(201);
    });
    run('a deleted Secret no longer authenticates (at once on the dev cluster, after the informer catches up on a real one)', async () => {
      const t = await tokenSecret({});
      expect((await whoami(t)).status).toBe(201);
      expect((await call('DELETE', `${SECRETS}/bootstrap-token-${t.slice(0, 6)}`, { bearer: sa() })).status).toBe(200);
      expect(await eventually(async () => (await whoami(t)).status, 401)).toBe(401);
    });
    run('no Authorization → 401 (anonymous auth off, as k3s runs it); an unknown bearer → 401', async () => {
      expect((await call('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', { body: {} })).text).toBe(UNAUTHORIZED);
      expect((await whoami('nope')).text).toBe(UNAUTHORIZED);
      expect((await call('GET', SECRETS, { auth: 'Bearer  two-spaces' })).status).toBe(401);
    });
  });

  describe('token cleaner (§3.1)', () => {
    run('deletes expired and unparseable-expiration token Secrets, keeps the rest', async () => {
      const expired = await tokenSecret({ expiration: '2001-01-01T00:00:00Z' });
      const garbage = await tokenSecret({ expiration: 'tomorrow' });
      const forever = await tokenSecret({});
      const names = async () => (await call('GET', `${SECRETS}?fieldSelector=type%3Dbootstrap.kubernetes.io%2Ftoken`, { bearer: sa() })).json.items.map((i: any) => i.metadata.name) as string[];
      const deadline = Date.now() + 15_000;
      let now = await names();
      while (Date.now() < deadline && (now.includes(`bootstrap-token-${expired.slice(0, 6)}`) || now.includes(`bootstrap-token-${garbage.slice(0, 6)}`))) {
        await new Promise((r) => setTimeout(r, 200));
        now = await names();
      }
      expect(now).not.toContain(`bootstrap-token-${expired.slice(0, 6)}`);
      expect(now).not.toContain(`bootstrap-token-${garbage.slice(0, 6)}`);
      expect(now).toContain(`bootstrap-token-${forever.slice(0, 6)}`);
    });
  });

  describe('Secrets API (§5)', () => {
    run('create: uid, resourceVersion, creationTimestamp; stringData merged into data and not returned; type defaults to Opaque', async () => {
      const r = await call('POST', SECRETS, { bearer: sa(), body: { metadata: { name: 'plain-1' }, stringData: { a: 'hello' }, data: { b: 'd29ybGQ=' } } });
      expect(r.status).toBe(201);
      expect(r.json.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
      expect(r.json.metadata.resourceVersion).toMatch(/^\d+$/);
      expect(r.json.metadata.creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      expect(r.json.data).toEqual({ a: 'aGVsbG8=', b: 'd29ybGQ=' });
      expect(r.json.stringData).toBeUndefined();
      expect(r.json.type).toBe('Opaque');
    });
    run('409 AlreadyExists body', async () => {
      await call('POST', SECRETS, { bearer: sa(), body: { metadata: { name: 'dup-1' } } });
      const r = await call('POST', SECRETS, { bearer: sa(), body: { metadata: { name: 'dup-1' } } });
      expect(r.status).toBe(409);
      expect(r.text).toBe('{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"secrets \\"dup-1\\" already exists","reason":"AlreadyExists","details":{"name":"dup-1","kind":"secrets"},"code":409}');
    });
    run('404 NotFound body', async () => {
      const r = await call('GET', `${SECRETS}/bootstrap-token-abcdef`, { bearer: sa() });
      expect(r.text).toBe('{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"secrets \\"bootstrap-token-abcdef\\" not found","reason":"NotFound","details":{"name":"bootstrap-token-abcdef","kind":"secrets"},"code":404}');
    });
    run('422 Invalid for an uppercase name, with the Kind in details and a cause', async () => {
      const r = await call('POST', SECRETS, { bearer: sa(), body: { metadata: { name: 'Bad' } } });
      expect(r.status).toBe(422);
      expect(r.json).toMatchObject({ reason: 'Invalid', details: { name: 'Bad', kind: 'Secret', causes: [{ reason: 'FieldValueInvalid', field: 'metadata.name' }] }, code: 422 });
      expect(r.json.message).toMatch(/^Secret "Bad" is invalid: metadata.name: Invalid value: "Bad": a lowercase RFC 1123 subdomain/);
    });
    run('422 for a missing name', async () => {
      const r = await call('POST', SECRETS, { bearer: sa(), body: { metadata: {} } });
      expect(r.status).toBe(422);
      expect(r.json.message).toContain('metadata.name: Required value: name or generateName is required');
    });
    run('400 for a namespace mismatch and for undecodable base64 data', async () => {
      const a = await call('POST', SECRETS, { bearer: sa(), body: { metadata: { name: 'ns-x', namespace: 'default' } } });
      expect(a.status).toBe(400);
      expect(a.json.message).toBe('the namespace of the provided object does not match the namespace sent on the request');
      const b = await call('POST', SECRETS, { bearer: sa(), body: { metadata: { name: 'b64-x' }, data: { k: 'not base64!' } } });
      expect(b.status).toBe(400);
      expect(b.json.reason).toBe('BadRequest');
    });
    run('list with a field selector; an unsupported field → 400; a label selector narrows', async () => {
      await call('POST', SECRETS, { bearer: sa(), body: { metadata: { name: 'labelled-1', labels: { app: 'x' } }, type: 'bootstrap.kubernetes.io/token' } });
      const list = await call('GET', `${SECRETS}?fieldSelector=type%3Dbootstrap.kubernetes.io%2Ftoken&labelSelector=app%3Dx`, { bearer: sa() });
      expect(list.json.kind).toBe('SecretList');
      expect(list.json.items.map((i: any) => i.metadata.name)).toEqual(['labelled-1']);
      const bad = await call('GET', `${SECRETS}?fieldSelector=data.x%3Dy`, { bearer: sa() });
      expect(bad.status).toBe(400);
      expect(bad.json.reason).toBe('BadRequest');
    });
    run('DELETE answers a Status, 404 when gone, 409 Conflict on a UID precondition mismatch', async () => {
      const created = await call('POST', SECRETS, { bearer: sa(), body: { metadata: { name: 'del-1' } } });
      const wrong = await call('DELETE', `${SECRETS}/del-1`, { bearer: sa(), body: { preconditions: { uid: '00000000-0000-0000-0000-000000000000' } } });
      expect(wrong.status).toBe(409);
      expect(wrong.text).toBe(`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Operation cannot be fulfilled on Secret \\"del-1\\": the UID in the precondition (00000000-0000-0000-0000-000000000000) does not match the UID in record (${created.json.metadata.uid}). The object might have been deleted and then recreated","reason":"Conflict","details":{"name":"del-1","kind":"Secret"},"code":409}`);
      const ok = await call('DELETE', `${SECRETS}/del-1`, { bearer: sa(), body: { preconditions: { uid: created.json.metadata.uid } } });
      expect(ok.text).toBe(`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success","details":{"name":"del-1","kind":"secrets","uid":"${created.json.metadata.uid}"}}`);
      expect((await call('DELETE', `${SECRETS}/del-1`, { bearer: sa() })).status).toBe(404);
    });
  });

  describe('RBAC refusals', () => {
    run('the readonly service account may list but not create: 403 with the exact message', async () => {
      expect((await call('GET', SECRETS, { bearer: c.readonlyServiceAccountToken })).status).toBe(200);
      const r = await call('POST', SECRETS, { bearer: c.readonlyServiceAccountToken, body: { metadata: { name: 'x' } } });
      expect(r.status).toBe(403);
      expect(r.text).toBe('{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"secrets is forbidden: User \\"system:serviceaccount:k3s-enroll:readonly\\" cannot create resource \\"secrets\\" in API group \\"\\" in the namespace \\"kube-system\\"","reason":"Forbidden","details":{"kind":"secrets"},"code":403}');
    });
    run('a bootstrap token cannot read Secrets (403, with the name for get)', async () => {
      const r = await call('GET', `${SECRETS}/anything`, { bearer: await tokenSecret({}) });
      expect(r.status).toBe(403);
      expect(r.json.details).toEqual({ name: 'anything', kind: 'secrets' });
    });
  });
});
