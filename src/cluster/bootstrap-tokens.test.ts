// Ambiguous creates (issue 14 item 15): a create that failed ambiguously and whose read-back also
// failed surfaces the attempted token id, so the use case can owe it a delete-if-exists.
import { describe, expect, it } from 'vitest';
import { AmbiguousCreateError, createBootstrapTokenStore } from './bootstrap-tokens.ts';
import { createKubeHttp } from './kube-http.ts';

const TOKEN = { id: 'abcdef', secret: '0123456789abcdef', token: 'abcdef.0123456789abcdef' } as const;

function store(answer: (method: string, path: string) => Response | Error) {
  const calls: string[] = [];
  const fetch = (async (url: string, init: RequestInit) => {
    const method = init.method ?? 'GET';
    const path = new URL(url).pathname;
    calls.push(`${method} ${path}`);
    const a = answer(method, path);
    if (a instanceof Error) throw a;
    return a;
  }) as unknown as typeof globalThis.fetch;
  const now = () => new Date('2026-06-01T00:00:00Z');
  const http = createKubeHttp({ baseUrl: 'https://api.test', bearer: 'sa', fetch, now, sleep: async () => {}, retries: 1 });
  return { tokens: createBootstrapTokenStore(http, { now, generate: () => TOKEN }), calls };
}
const dated = (body: string, status = 200) => new Response(body, { status, headers: { date: 'Mon, 01 Jun 2026 00:00:00 GMT' } });
const MINT = { ttlSeconds: 600, usages: ['authentication'], groups: ['system:bootstrappers:k3s:default-node-token'] };

describe('bootstrap token create: ambiguous outcomes', () => {
  it('create times out and the read-back fails too: AmbiguousCreateError naming the attempted id', async () => {
    const { tokens } = store((method, path) => {
      if (method === 'GET' && path.endsWith('/secrets')) return dated('{"items":[]}');
      return new TypeError('fetch failed'); // POST and the read-back GET
    });
    const err = await tokens.mint(MINT).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(AmbiguousCreateError);
    expect((err as AmbiguousCreateError).attemptedTokenId).toBe('abcdef');
    expect((err as AmbiguousCreateError).code).toBe('upstream_unavailable');
  });

  it('create answers 500 and the read-back finds nothing: still owed (the create may land later)', async () => {
    const { tokens } = store((method, path) => {
      if (method === 'POST') return dated('{"kind":"Status","code":500}', 500);
      if (path.endsWith('/bootstrap-token-abcdef')) return dated('{"kind":"Status","code":404,"reason":"NotFound"}', 404);
      return dated('{"items":[]}');
    });
    const err = await tokens.mint(MINT).then(() => null, (e: unknown) => e);
    expect((err as AmbiguousCreateError).attemptedTokenId).toBe('abcdef');
  });

  it('a create refused outright (403) is not ambiguous: nothing is owed', async () => {
    const { tokens } = store((method) => (method === 'POST' ? dated('{"kind":"Status","code":403}', 403) : dated('{"items":[]}')));
    const err = await tokens.mint(MINT).then(() => null, (e: unknown) => e);
    expect(err).not.toBeInstanceOf(AmbiguousCreateError);
  });
});
