// Through the Worker entry in workerd: the same answers as the Deno and in-process runs.
import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';

describe('Worker entry', () => {
  it('GET /healthz → 200 {"ok":true} with no-store', async () => {
    const res = await SELF.fetch('https://enroll.test/healthz');
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(await res.json()).toEqual({ ok: true });
  });

  it('unknown route → 404 problem+json with a stable code and the request id', async () => {
    const res = await SELF.fetch('https://enroll.test/v1/nope', { headers: { 'x-request-id': 'req-abc' } });
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ type: 'urn:k3s-enroll:problem:not_found', status: 404, code: 'not_found', request_id: 'req-abc' });
    expect(JSON.stringify(body)).not.toMatch(/at .*\.ts/); // no stack
  });

  it('a body over 64 KiB → 413 payload_too_large, not a 5xx', async () => {
    const res = await SELF.fetch('https://enroll.test/healthz', { method: 'POST', body: 'x'.repeat(64 * 1024 + 1), headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ code: 'payload_too_large' });
  });
});
