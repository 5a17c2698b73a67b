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
    expect(lines.join('\n')).toContain('/v1/tokens/abcdef');
    expect(lines.join('\n')).not.toContain('0123456789abcdef');
  });
});
