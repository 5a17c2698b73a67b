// Error mapping and retry policy of the Kubernetes HTTP layer, with a scripted fetch. The real
// round trips (HTTPS, faults, authentication) are in test/integration against the dev cluster.
import { describe, expect, it } from 'vitest';
import { UpstreamError } from '../errors.ts';
import { createKubeHttp, KubeApiError } from './kube-http.ts';

const status = (code: number, reason: string) => JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: reason, reason, code });

function scripted(answers: Array<Response | Error | (() => Promise<Response>)>) {
  const calls: { method: string; url: string; headers: Headers }[] = [];
  const fetch = (async (url: string, init: RequestInit) => {
    calls.push({ method: init.method ?? 'GET', url, headers: new Headers(init.headers) });
    const a = answers.shift();
    if (!a) throw new Error('no more answers');
    if (a instanceof Error) throw a;
    if (typeof a === 'function') return a();
    return a;
  }) as unknown as typeof globalThis.fetch;
  return { fetch, calls };
}

const base = { baseUrl: 'https://api.test', bearer: 'sa-token', now: () => new Date('2026-01-01T00:00:00Z'), sleep: async () => {} };

describe('kube http', () => {
  it('sends the bearer, Access headers and reads the server clock from Date', async () => {
    const s = scripted([new Response('{}', { headers: { date: 'Thu, 01 Jan 2026 00:05:00 GMT' } })]);
    const http = createKubeHttp({ ...base, fetch: s.fetch, accessClientId: 'id.access', accessClientSecret: 'cf-secret' });
    await http.request('GET', '/x', 'get x');
    expect(s.calls[0]!.headers.get('authorization')).toBe('Bearer sa-token');
    expect(s.calls[0]!.headers.get('cf-access-client-id')).toBe('id.access');
    expect(s.calls[0]!.headers.get('cf-access-client-secret')).toBe('cf-secret');
    expect(http.serverNow()?.toISOString()).toBe('2026-01-01T00:05:00.000Z');
  });

  it('retries idempotent calls on 5xx and network errors, then succeeds', async () => {
    const s = scripted([new Response(status(500, 'InternalError'), { status: 500 }), new TypeError('fetch failed'), new Response('{"ok":1}')]);
    const http = createKubeHttp({ ...base, fetch: s.fetch });
    expect((await http.request('GET', '/x', 'get x')).body).toEqual({ ok: 1 });
    expect(s.calls).toHaveLength(3);
  });

  it('gives up after the bounded retries with a retryable UpstreamError (→ 503)', async () => {
    const s = scripted([new Response('', { status: 503 }), new Response('', { status: 503 }), new Response('', { status: 503 }), new Response('{}')]);
    const http = createKubeHttp({ ...base, fetch: s.fetch, retries: 2 });
    const err = await http.request('GET', '/x', 'get x').catch((e) => e);
    expect(err).toBeInstanceOf(KubeApiError);
    expect(err.code).toBe('upstream_unavailable');
    expect(s.calls).toHaveLength(3);
  });

  it('never retries a POST', async () => {
    const s = scripted([new Response('', { status: 500 }), new Response('{}')]);
    const http = createKubeHttp({ ...base, fetch: s.fetch });
    await expect(http.request('POST', '/x', 'create x', { body: '{}' })).rejects.toBeInstanceOf(KubeApiError);
    expect(s.calls).toHaveLength(1);
  });

  it.each([
    [401, 'Unauthorized', 'upstream_error', false],
    [403, 'Forbidden', 'upstream_error', false],
    [422, 'Invalid', 'upstream_error', false],
    [429, 'TooManyRequests', 'upstream_unavailable', true],
    [500, 'InternalError', 'upstream_unavailable', true],
  ])('maps %i %s to %s', async (code, reason, appCode, retryable) => {
    const answers = Array.from({ length: 3 }, () => new Response(status(code, reason), { status: code, headers: { 'retry-after': '2' } }));
    const http = createKubeHttp({ ...base, fetch: scripted(answers).fetch });
    const err = (await http.request('GET', '/x', 'get x').catch((e) => e)) as KubeApiError;
    expect(err.status).toBe(code);
    expect(err.kubeReason).toBe(reason);
    expect(err.code).toBe(appCode);
    expect(err.retryable).toBe(retryable);
  });

  it('waits at least Retry-After on 429', async () => {
    const waits: number[] = [];
    const s = scripted([new Response(status(429, 'TooManyRequests'), { status: 429, headers: { 'retry-after': '3' } }), new Response('{}')]);
    const http = createKubeHttp({ ...base, fetch: s.fetch, sleep: async (ms) => void waits.push(ms) });
    await http.request('GET', '/x', 'get x');
    expect(waits).toEqual([3000]);
  });

  it('times out a hanging call (AbortSignal.timeout) as retryable', async () => {
    const hang = () => new Promise<Response>((_r, reject) => setTimeout(() => reject(new DOMException('timed out', 'TimeoutError')), 5));
    const http = createKubeHttp({ ...base, fetch: scripted([hang]).fetch, retries: 0, timeoutMs: 1 });
    const err = await http.request('GET', '/x', 'get x').catch((e) => e);
    expect(err).toBeInstanceOf(UpstreamError);
    expect(err.retryable).toBe(true);
    expect(err.reason).toContain('timed out');
  });

  it('refuses a non-JSON 2xx answer', async () => {
    const http = createKubeHttp({ ...base, fetch: scripted([new Response('<html>')]).fetch });
    await expect(http.request('GET', '/x', 'get x')).rejects.toMatchObject({ code: 'upstream_error' });
  });

  it('does not follow redirects (a redirect is an error)', async () => {
    const http = createKubeHttp({ ...base, fetch: scripted([new Response('', { status: 302, headers: { location: 'https://evil' } })]).fetch });
    await expect(http.request('GET', '/x', 'get x')).rejects.toMatchObject({ status: 302 });
  });

  it('a body that stalls after the headers is cut at its own deadline (retryable), not awaited for ever', async () => {
    const stalled = () => Promise.resolve(new Response(new ReadableStream<Uint8Array>({ start: (c) => c.enqueue(new TextEncoder().encode('{"items":[')) })));
    const http = createKubeHttp({ ...base, fetch: scripted([stalled]).fetch, retries: 0, timeoutMs: 20 });
    const err = await http.request('GET', '/x', 'list x').catch((e) => e);
    expect(err).toBeInstanceOf(UpstreamError);
    expect(err).toMatchObject({ retryable: true, code: 'upstream_unavailable' });
    expect(err.reason).toContain('body read timed out');
  });

  it('an over-large body is refused once the cap is passed, without buffering the rest', async () => {
    const MB = new Uint8Array(1024 * 1024).fill(0x20);
    let pulled = 0;
    const huge = () => Promise.resolve(new Response(new ReadableStream<Uint8Array>({ pull: (c) => void (pulled++ < 64 ? c.enqueue(MB) : c.close()) }, { highWaterMark: 0 })));
    const http = createKubeHttp({ ...base, fetch: scripted([huge]).fetch, retries: 0 });
    await expect(http.request('GET', '/x', 'list x')).rejects.toMatchObject({ retryable: false, reason: expect.stringContaining('body over') });
    expect(pulled).toBeLessThanOrEqual(10); // the cap is 8 MiB: the 9th MiB ends it
    // A declared length over the cap is refused before anything is read.
    pulled = 0;
    const declared = () => Promise.resolve(new Response(new ReadableStream<Uint8Array>({ pull: (c) => void (pulled++, c.enqueue(MB)) }, { highWaterMark: 0 }), { headers: { 'content-length': String(9 * 1024 * 1024) } }));
    await expect(createKubeHttp({ ...base, fetch: scripted([declared]).fetch, retries: 0 }).request('GET', '/x', 'list x')).rejects.toMatchObject({ retryable: false });
    expect(pulled).toBe(0);
  });

  it('a body within the cap, in many chunks (split UTF-8 included), reads whole', async () => {
    const bytes = new TextEncoder().encode(JSON.stringify({ name: 'knoten-ü-'.repeat(1000) }));
    const chunked = () => Promise.resolve(new Response(new ReadableStream<Uint8Array>({ start: (c) => { for (let i = 0; i < bytes.length; i += 7) c.enqueue(bytes.slice(i, i + 7)); c.close(); } })));
    const http = createKubeHttp({ ...base, fetch: scripted([chunked]).fetch });
    expect((await http.request<{ name: string }>('GET', '/x', 'get x')).body.name).toBe('knoten-ü-'.repeat(1000));
  });
  it('an expected 404 (absentOk) is read to its end, not cancelled: a cancelled body closes the pooled connection', async () => {
    let cancelled = false;
    let pulledToEnd = false;
    const chunks = [new TextEncoder().encode(status(404, 'NotFound'))];
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        const next = chunks.shift();
        if (next) c.enqueue(next);
        else {
          pulledToEnd = true;
          c.close();
        }
      },
      cancel() {
        cancelled = true;
      },
    });
    const s = scripted([new Response(body, { status: 404 })]);
    const http = createKubeHttp({ ...base, fetch: s.fetch });
    expect(await http.request('GET', '/x', 'get x', { absentOk: true })).toMatchObject({ status: 404, body: null });
    expect(cancelled).toBe(false);
    expect(pulledToEnd).toBe(true);
  });
});
