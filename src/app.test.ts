// The app in-process (Node): error path, middleware order and misconfiguration handling.
import { describe, expect, it } from 'vitest';
import { createApp, BODY_LIMIT_BYTES } from './app.ts';
import { parseConfig } from './config.ts';
import { AppError, ConfigError, UpstreamError } from './errors.ts';
import { readJsonObject } from './http/json-body.ts';
import type { Logger } from './http/logger.ts';
import { PROBLEMS } from './http/problem.ts';

const config = parseConfig({ K3S_SERVER_URL: 'https://k3s:6443', CLUSTER_API_URL: 'https://api', CLUSTER_SA_TOKEN: 'sa-secret-value', CLUSTER_CA_HASH: 'a'.repeat(64), ADMIN_TOKEN: 'admin-secret-0123456789' });

function build(loadConfig = () => config) {
  const lines: string[] = [];
  const logger: Logger = { log: (level, event, fields) => lines.push(JSON.stringify({ level, event, ...fields })) };
  const app = createApp({ loadConfig, logger });
  // Test-only routes exercising the error path from inside a handler.
  app.post('/echo', async (c) => c.json(await readJsonObject(c)));
  app.get('/throw/app', () => {
    throw new AppError('invalid_request', 'field x is wrong', { reason: 'x was 3' });
  });
  app.get('/throw/upstream', () => {
    throw new UpstreamError('the cluster API did not answer', { retryable: true, retryAfterSeconds: 7 });
  });
  app.get('/throw/upstream-bad', () => {
    throw new UpstreamError('the cluster API refused our credentials', { retryable: false, upstreamStatus: 401 });
  });
  app.get('/throw/bug', () => {
    throw new Error('secret-ish internal detail');
  });
  return { app, lines };
}

describe('createApp', () => {
  it('answers misconfigured (500) naming variables, not values, on every route', async () => {
    const { app, lines } = build(() => {
      throw new ConfigError([{ variable: 'CLUSTER_SA_TOKEN', problem: 'is required' }, { variable: 'ADMIN_TOKEN', problem: 'too short' }]);
    });
    for (const path of ['/healthz', '/v1/enroll']) {
      const res = await app.request(path);
      expect(res.status).toBe(500);
      expect(await res.json()).toMatchObject({ code: 'misconfigured', variables: ['CLUSTER_SA_TOKEN', 'ADMIN_TOKEN'] });
    }
    expect(lines.some((l) => l.includes('"level":"error"') && l.includes('misconfigured'))).toBe(true);
  });

  it('maps AppError to its status with detail, keeping the reason out of the response', async () => {
    const { app, lines } = build();
    const res = await app.request('/throw/app');
    expect(res.status).toBe(400);
    const body = await res.json();
    expect(body).toMatchObject({ code: 'invalid_request', detail: 'field x is wrong', title: PROBLEMS.invalid_request.title });
    expect(JSON.stringify(body)).not.toContain('x was 3');
    expect(lines.join()).toContain('x was 3');
  });

  it('retryable upstream trouble → 503 + Retry-After; non-retryable → 502 + Retry-After', async () => {
    const { app } = build();
    const a = await app.request('/throw/upstream');
    expect(a.status).toBe(503);
    expect(a.headers.get('retry-after')).toBe('7');
    expect(await a.json()).toMatchObject({ code: 'upstream_unavailable' });
    const b = await app.request('/throw/upstream-bad');
    expect(b.status).toBe(502);
    expect(Number(b.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await b.json()).toMatchObject({ code: 'upstream_error' });
  });

  it('an unexpected exception is a 500 internal with no message or stack', async () => {
    const { app } = build();
    const res = await app.request('/throw/bug');
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(text).not.toContain('secret-ish');
    expect(JSON.parse(text)).toMatchObject({ code: 'internal' });
  });

  it('keeps a caller request id and generates one otherwise', async () => {
    const { app } = build();
    expect((await app.request('/healthz', { headers: { 'x-request-id': 'abc-123' } })).headers.get('x-request-id')).toBe('abc-123');
    expect((await app.request('/healthz')).headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  describe('JSON bodies', () => {
    const post = (app: ReturnType<typeof build>['app'], body: string, type = 'application/json') => app.request('/echo', { method: 'POST', body, headers: { 'content-type': type } });
    it('accepts an object', async () => {
      const { app } = build();
      const res = await post(app, '{"a":1}');
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ a: 1 });
    });
    it.each([
      ['broken JSON', '{"a":', 400, 'invalid_request'],
      ['an array', '[1]', 400, 'invalid_request'],
      ['a string', '"x"', 400, 'invalid_request'],
      ['null', 'null', 400, 'invalid_request'],
      ['empty', '', 400, 'invalid_request'],
    ])('rejects %s', async (_n, body, status, code) => {
      const { app } = build();
      const res = await post(app, body);
      expect(res.status).toBe(status);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect(await res.json()).toMatchObject({ code });
    });
    it('rejects a non-JSON content type with 415', async () => {
      const { app } = build();
      const res = await post(app, '{"a":1}', 'text/plain');
      expect(res.status).toBe(415);
      expect(await res.json()).toMatchObject({ code: 'unsupported_media_type' });
    });
    it('rejects a body over the limit with 413 even without content-length', async () => {
      const { app } = build();
      const big = `{"a":"${'x'.repeat(BODY_LIMIT_BYTES)}"}`;
      const stream = new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode(big)); c.close(); } });
      const res = await app.request('/echo', { method: 'POST', body: stream, headers: { 'content-type': 'application/json' }, duplex: 'half' } as RequestInit);
      expect(res.status).toBe(413);
      expect(await res.json()).toMatchObject({ code: 'payload_too_large' });
    });
  });
});

describe('audit failures', () => {
  it('are logged, and the request is still answered', async () => {
    const { createMemoryMachineStore, createMemoryMachineIndex, createMemoryWebhookEventLog, createMemoryRateLimiter } = await import('./store/memory.ts');
    const lines: string[] = [];
    const logger: Logger = { log: (level, event, fields) => lines.push(JSON.stringify({ level, event, ...fields })) };
    const services = {
      machines: createMemoryMachineStore(),
      index: createMemoryMachineIndex(),
      audit: { append: async () => { throw new Error('D1 is down'); }, list: async () => [] },
      webhookEvents: createMemoryWebhookEventLog(),
      ipLimiter: createMemoryRateLimiter(60, 60_000),
      verifiers: {},
      ekTrust: { roots: [], intermediates: [] },
    } as unknown as import('./app.ts').Services;
    const app = createApp({ loadConfig: () => config, services: () => services, logger });
    const res = await app.request('/v1/machines/audit-1', { method: 'PUT', headers: { authorization: 'Bearer admin-secret-0123456789', 'content-type': 'application/json' }, body: '{}' });
    expect(res.status).toBe(201);
    expect(lines.some((l) => l.includes('"event":"audit.failed"') && l.includes('D1 is down') && l.includes('machine.register'))).toBe(true);
  });
});

describe('logs never carry a token secret', () => {
  it('a refused DELETE /v1/tokens/{full token} logs the token id only', async () => {
    const lines: string[] = [];
    const logger: Logger = { log: (level, event, fields) => lines.push(JSON.stringify({ level, event, ...fields })) };
    const app = createApp({ loadConfig: () => config, logger });
    const token = encodeURIComponent(`K10${'a'.repeat(64)}::abcdef.0123456789abcdef`);
    const res = await app.request(`/v1/tokens/${token}`, { method: 'DELETE' });
    expect(res.status).toBe(401);
    expect(lines.join('\n')).toContain('/v1/tokens/<redacted>');
    expect(lines.join('\n')).not.toContain('0123456789abcdef');
  });
});

// Issue 14 items 7, 8, 10, 16 in-process (the workerd walk is test/e2e/route-walk.test.ts, on Miniflare).
function withServices() {
  const lines: string[] = [];
  const logger: Logger = { log: (level, event, fields) => lines.push(JSON.stringify({ level, event, ...fields })) };
  const removed: string[] = [];
  const audit: Array<{ requestId: string }> = [];
  const services = {
    machines: { register: async (r: { id: string }) => ({ machine: { id: r.id, groups: null, labels: {}, tokenTtlSeconds: null, hasEnrollmentCode: false, enrollmentCodeUsed: false, enrollmentCodeExpiresAt: null, jwtSubject: null, ekPublicKeySha256: null, certificateSha256: null, revokedAt: null, createdAt: 0, updatedAt: 0, liveToken: null, lastEnrolledAt: null }, created: true }) },
    index: { upsert: async () => undefined },
    audit: { append: async (e: { requestId: string }) => void audit.push(e), list: async () => [] },
    cluster: { tokens: { remove: async (id: string) => (removed.push(id), true) } },
    verifiers: {},
  } as unknown as import('./app.ts').Services;
  const app = createApp({ loadConfig: () => config, services: () => services, logger });
  return { app, lines, removed, audit };
}
const ADMIN_HEADERS = { authorization: 'Bearer admin-secret-0123456789' };

describe('DELETE /v1/tokens/{id}: the path takes the id only (item 8)', () => {
  const SECRET = '0123456789abcdef';
  it.each([
    ['<id>.<secret>', `abcdef.${SECRET}`],
    ['K10 join token', `K10${'a'.repeat(64)}::abcdef.${SECRET}`],
    ['K10 without hash', `K10::abcdef.${SECRET}`],
    ['server token', `K10${'a'.repeat(64)}::server:${SECRET}`],
  ])('a full token (%s) is 400 invalid_token with a hint, deletes nothing, and is never logged', async (_n, token) => {
    const { app, lines, removed } = withServices();
    for (const path of [`/v1/tokens/${encodeURIComponent(token)}`, `/v1/tokens/${token}`]) {
      const res = await app.request(path, { method: 'DELETE', headers: ADMIN_HEADERS });
      expect(res.status).toBe(400);
      const body = (await res.json()) as Record<string, string>;
      expect(body).toMatchObject({ code: 'invalid_token', hint: expect.stringContaining('k3s-token delete') });
      expect(body.detail).toContain('token id only');
      expect(JSON.stringify(body)).not.toContain(SECRET);
    }
    expect(removed).toEqual([]);
    expect(lines.join('\n')).not.toContain(SECRET);
    expect(lines.join('\n')).toContain('/v1/tokens/<redacted>');
  });

  it('an id deletes; garbage that is not a token is 400 with k3s\'s message', async () => {
    const { app, removed } = withServices();
    expect((await app.request('/v1/tokens/abcdef', { method: 'DELETE', headers: ADMIN_HEADERS })).status).toBe(200);
    expect(removed).toEqual(['abcdef']);
    const bad = await app.request('/v1/tokens/ABC', { method: 'DELETE', headers: ADMIN_HEADERS });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { detail: string }).detail).toMatch(/^given token didn't match pattern/);
  });
});

describe('X-Request-Id (item 10)', () => {
  it.each(['a=b', 'x'.repeat(65), '<script>alert(1)</script>', '{"forged":true}', 'a b', 'ü', 'id;drop', '../etc/passwd', '%0d%0a'])('a hostile id %j is replaced and never reaches the audit log', async (hostile) => {
    const { app, audit } = withServices();
    const res = await app.request('/v1/machines/rid-1', { method: 'PUT', headers: { ...ADMIN_HEADERS, 'content-type': 'application/json', 'x-request-id': hostile }, body: '{}' });
    expect(res.status).toBe(201);
    const rid = res.headers.get('x-request-id')!;
    expect(rid).toMatch(/^[0-9a-f-]{36}$/);
    expect(audit.map((e) => e.requestId)).toEqual([rid]);
    expect(JSON.stringify(audit)).not.toContain(hostile);
  });

  it('a safe id (charset [A-Za-z0-9._-], 1–64) is kept end to end', async () => {
    const { app, audit } = withServices();
    const res = await app.request('/v1/machines/rid-2', { method: 'PUT', headers: { ...ADMIN_HEADERS, 'content-type': 'application/json', 'x-request-id': 'trace.01_ABC-xyz' }, body: '{}' });
    expect(res.headers.get('x-request-id')).toBe('trace.01_ABC-xyz');
    expect(audit.map((e) => e.requestId)).toEqual(['trace.01_ABC-xyz']);
  });
});

describe('paths that do not decode (item 7)', () => {
  it.each(['/v1/tokens/%E0%A4%A', '/v1/machines/%ZZ', '/v1/machines/%C0%AF', '/v1/tokens/%ED%A0%80', '/healthz/%', '/v1/audit%FF'])('%s is 400 invalid_request without credentials, and nothing 5xx is logged', async (path) => {
    const { app, lines } = withServices();
    for (const method of ['GET', 'DELETE', 'PUT', 'POST']) {
      const res = await app.request(path, { method });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ code: 'invalid_request' });
    }
    expect(lines.join('\n')).not.toContain('request.failed');
  });
});

describe('a refused upload is drained (item 16)', () => {
  it('a chunked body over the limit is read to its end before the 413, so the connection is reusable', async () => {
    const { app } = withServices();
    let pulled = 0;
    let finished = false;
    const chunk = new Uint8Array(4096).fill(0x61);
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        if (pulled++ < 64) c.enqueue(chunk);
        else {
          finished = true;
          c.close();
        }
      },
    });
    const res = await app.request('/v1/enroll', { method: 'POST', body: stream, headers: { 'content-type': 'application/json' }, duplex: 'half' } as RequestInit);
    expect(res.status).toBe(413);
    expect(finished).toBe(true);
  });
});
