// Through the Worker entry in workerd: the same answers as the Deno and in-process runs.
import { describe, expect, it } from 'vitest';
import { checkedFetch, expectDocumented } from '../support/workers/openapi-contract.ts';

describe('Worker entry', () => {
  it('GET /healthz → 200 {"ok":true} with no-store', async () => {
    const res = await checkedFetch('https://enroll.test/healthz');
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(await res.json()).toEqual({ ok: true });
  });

  it('unknown route → 404 problem+json with a stable code and the request id', async () => {
    const res = await checkedFetch('https://enroll.test/v1/nope', { headers: { 'x-request-id': 'req-abc' } });
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ type: 'urn:k3s-enroll:problem:not_found', status: 404, code: 'not_found', request_id: 'req-abc' });
    expect(JSON.stringify(body)).not.toMatch(/at .*\.ts/); // no stack
  });

  it('a body over 64 KiB → 413 payload_too_large, not a 5xx', async () => {
    const res = await checkedFetch('https://enroll.test/healthz', { method: 'POST', body: 'x'.repeat(64 * 1024 + 1), headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ code: 'payload_too_large' });
  });

  it('GET /openapi.json → 200 OpenAPI 3.1 without credentials', async () => {
    const res = await checkedFetch('https://enroll.test/openapi.json');
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ openapi: '3.1.0', paths: { '/v1/enroll': { post: { operationId: 'enroll' } } } });
  });

  it('the contract check fails on a wrong body, an undocumented status or an undocumented problem code', async () => {
    const json = (body: unknown, status = 200, type = 'application/json') => new Response(JSON.stringify(body), { status, headers: { 'content-type': type } });
    await expect(expectDocumented('GET', 'https://enroll.test/healthz', json({ ok: false }))).rejects.toThrow(/does not match the document/);
    await expect(expectDocumented('GET', 'https://enroll.test/healthz', json({ ok: true }, 418))).rejects.toThrow(/status not documented/);
    const problem = (code: string, status: number) => json({ type: `urn:k3s-enroll:problem:${code}`, title: 't', status, code, request_id: 'r' }, status, 'application/problem+json');
    await expect(expectDocumented('GET', 'https://enroll.test/v1/machines/m-1', problem('machine_unknown', 404))).resolves.toBeUndefined();
    await expect(expectDocumented('GET', 'https://enroll.test/v1/machines', problem('not_found', 404))).rejects.toThrow(/status not documented/);
    await expect(expectDocumented('GET', 'https://enroll.test/v1/machines/m-1', problem('code_used', 409))).rejects.toThrow(/status not documented/);
    await expect(expectDocumented('PUT', 'https://enroll.test/v1/machines/m-1', problem('invalid_token', 400))).rejects.toThrow(/does not match the document/);
  });
});
