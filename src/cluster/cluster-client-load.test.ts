// The cluster client under load (boot storm): a create that provably did not land is sent again
// in the same call, one clock probe is in flight however many mints start together, timeouts
// measure the cluster rather than a starved event loop, and every write goes through the gate.
import { describe, expect, it } from 'vitest';
import { createClusterClient, possiblyLandedTokenIds } from './index.ts';
import { ClusterBusyError, type WriteKind } from './write-governor.ts';

const SECRETS = '/api/v1/namespaces/kube-system/secrets';
const DATE = 'Thu, 01 Jan 2026 00:00:00 GMT';

/** A tiny cluster: POST stores, GET by name reads back, GET list answers empty; `onPost` may fail a call. */
function fakeCluster(onPost: (n: number) => 'drop' | 'ok' | 'drop-after-write' = () => 'ok') {
  const stored = new Map<string, { metadata: { name: string; uid: string }; type: string; data: Record<string, string> }>();
  const calls: string[] = [];
  let posts = 0;
  const fetch = (async (url: string, init: RequestInit) => {
    const u = new URL(url);
    calls.push(`${init.method} ${u.pathname}${u.search ? '?list' : ''}`);
    await new Promise((r) => setTimeout(r, 1));
    const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { date: DATE, 'content-type': 'application/json' } });
    if (init.method === 'POST') {
      const mode = onPost(++posts);
      if (mode === 'drop') throw new TypeError('Network connection lost.');
      const obj = JSON.parse(String(init.body)) as { metadata: { name: string }; type: string; stringData?: Record<string, string>; data?: Record<string, string> };
      const data = obj.data ?? Object.fromEntries(Object.entries(obj.stringData ?? {}).map(([k, v]) => [k, btoa(v)]));
      if (stored.has(obj.metadata.name)) return json(409, { kind: 'Status', reason: 'AlreadyExists', code: 409 });
      stored.set(obj.metadata.name, { metadata: { name: obj.metadata.name, uid: `uid-${posts}` }, type: obj.type, data });
      if (mode === 'drop-after-write') throw new TypeError('Network connection lost.');
      return json(201, stored.get(obj.metadata.name));
    }
    const name = u.pathname.slice(SECRETS.length + 1);
    if (name === '') return json(200, { items: [] });
    const s = stored.get(name);
    return s ? json(200, s) : json(404, { kind: 'Status', reason: 'NotFound', code: 404 });
  }) as unknown as typeof globalThis.fetch;
  return { fetch, stored, calls };
}

const clientOn = (fetch: typeof globalThis.fetch, extra: Partial<Parameters<typeof createClusterClient>[0]> = {}) =>
  createClusterClient({ baseUrl: 'https://api.test', bearer: 'sa', fetch, now: () => new Date('2026-01-01T00:00:00Z'), caPem: null, caHash: null, caHashMode: 'pem', sleep: async () => {}, ...extra });

describe('cluster client under load', () => {
  it('a create dropped before it landed (read-back 404) is sent again within the same call', async () => {
    const c = fakeCluster((n) => (n === 1 ? 'drop' : 'ok'));
    const minted = await clientOn(c.fetch).tokens.mint({ ttlSeconds: 60 });
    expect(c.stored.has(`bootstrap-token-${minted.token.id}`)).toBe(true);
    expect(c.stored.size).toBe(1);
    expect(c.calls.filter((x) => x.startsWith('POST'))).toHaveLength(2);
  });

  it('a create that landed before the connection broke is confirmed, not sent twice', async () => {
    const c = fakeCluster((n) => (n === 1 ? 'drop-after-write' : 'ok'));
    const minted = await clientOn(c.fetch).tokens.mint({ ttlSeconds: 60 });
    expect(minted.uid).toBe('uid-1');
    expect(c.calls.filter((x) => x.startsWith('POST'))).toHaveLength(1);
  });

  it('resends are bounded: a cluster that keeps dropping the create → upstream_unavailable, nothing stored', async () => {
    const c = fakeCluster(() => 'drop');
    await expect(clientOn(c.fetch).tokens.mint({ ttlSeconds: 60 })).rejects.toMatchObject({ code: 'upstream_unavailable' });
    expect(c.calls.filter((x) => x.startsWith('POST'))).toHaveLength(3);
    expect(c.stored.size).toBe(0);
  });

  it('one clock probe in flight, however many mints start before the cluster clock is known', async () => {
    const c = fakeCluster();
    const client = clientOn(c.fetch);
    await Promise.all(Array.from({ length: 50 }, () => client.tokens.mint({ ttlSeconds: 60 })));
    expect(c.calls.filter((x) => x.endsWith('?list'))).toHaveLength(1);
  });

  it('every create and delete takes a slot from the write gate; a pre-taken slot covers the first create', async () => {
    const c = fakeCluster((n) => (n === 1 ? 'drop' : 'ok'));
    const taken: WriteKind[] = [];
    const client = clientOn(c.fetch, { gate: { acquire: async (k) => (taken.push(k), { at: 0, giveBack: () => {} }) } });
    const minted = await client.tokens.mint({ ttlSeconds: 60, slotTaken: true });
    expect(taken).toEqual(['create']); // the resend only
    await client.tokens.remove(minted.token.id);
    expect(taken).toEqual(['create', 'delete']);
  });

  it('a DELETE the client retries (503, then a dropped connection) takes a fresh slot and goes through the send window on every try', async () => {
    let deletes = 0;
    const fetch = (async (_url: string, init: RequestInit) => {
      if (init.method !== 'DELETE') return new Response('{}', { status: 200, headers: { date: DATE } });
      if (++deletes === 1) return new Response(JSON.stringify({ kind: 'Status', reason: 'ServiceUnavailable', code: 503 }), { status: 503 });
      if (deletes === 2) throw new TypeError('Network connection lost.');
      return new Response('{}', { status: 200 });
    }) as unknown as typeof globalThis.fetch;
    const log: string[] = [];
    let n = 0;
    const gate = {
      acquire: async (k: WriteKind) => (log.push(`acquire ${k}`), { at: ++n, giveBack: () => {} }),
      send: async <T>(k: WriteKind, slot: { at: number }, write: () => Promise<T>) => (log.push(`send ${k} on slot ${slot.at}`), write()),
    };
    expect(await clientOn(fetch, { gate }).tokens.remove('abc123')).toBe(true);
    expect(deletes).toBe(3);
    expect(log).toEqual(['acquire delete', 'send delete on slot 1', 'acquire delete', 'send delete on slot 2', 'acquire delete', 'send delete on slot 3']);
  });

  it('a busy gate refuses the create before anything is sent', async () => {
    const c = fakeCluster();
    const { ClusterBusyError } = await import('./write-governor.ts');
    const client = clientOn(c.fetch, { gate: { acquire: async () => Promise.reject(new ClusterBusyError(3)) } });
    await expect(client.tokens.mint({ ttlSeconds: 60 })).rejects.toMatchObject({ code: 'cluster_busy', retryAfterSeconds: 3 });
    expect(c.calls.filter((x) => x.startsWith('POST'))).toHaveLength(0);
  });

  it('a timeout measures the cluster: an answer that arrived while the event loop was blocked is still read', async () => {
    let release: (r: Response) => void = () => {};
    const fetch = ((_u: string, init: RequestInit) =>
      new Promise<Response>((resolve, reject) => {
        init.signal?.addEventListener('abort', () => reject(init.signal!.reason));
        release = resolve;
        setTimeout(() => resolve(new Response('{"ok":true}', { headers: { date: DATE } })), 150);
      })) as unknown as typeof globalThis.fetch;
    const { createKubeHttp } = await import('./kube-http.ts');
    const http = createKubeHttp({ baseUrl: 'https://api.test', bearer: 'sa', fetch, now: () => new Date(), timeoutMs: 100, retries: 0, sleep: async () => {} });
    const p = http.request('GET', '/x', 'get x');
    // The isolate is busy for 300 ms right after sending: the cluster answered at 150 ms.
    const until = Date.now() + 300;
    while (Date.now() < until) {
      /* busy */
    }
    await expect(p).resolves.toMatchObject({ status: 200, body: { ok: true } });
    void release;
  });

  it('a cluster that really does not answer still times out', async () => {
    const fetch = ((_u: string, init: RequestInit) => new Promise<Response>((_r, reject) => init.signal?.addEventListener('abort', () => reject(init.signal!.reason)))) as unknown as typeof globalThis.fetch;
    const { createKubeHttp } = await import('./kube-http.ts');
    const http = createKubeHttp({ baseUrl: 'https://api.test', bearer: 'sa', fetch, now: () => new Date(), timeoutMs: 50, retries: 0, sleep: async () => {} });
    await expect(http.request('GET', '/x', 'get x')).rejects.toMatchObject({ code: 'upstream_unavailable', timedOut: true });
  });

  it('a failed mint names the ids it sent without a definite answer (they may land later); a refusal names none', async () => {
    const c = fakeCluster(() => 'drop');
    const err = await clientOn(c.fetch).tokens.mint({ ttlSeconds: 60 }).catch((e: unknown) => e);
    expect(possiblyLandedTokenIds(err)).toHaveLength(1);
    const refused = (async () => new Response(JSON.stringify({ kind: 'Status', reason: 'Forbidden', code: 403 }), { status: 403, headers: { date: DATE } })) as unknown as typeof globalThis.fetch;
    const err2 = await clientOn(refused).tokens.mint({ ttlSeconds: 60 }).catch((e: unknown) => e);
    expect(err2).toMatchObject({ code: 'upstream_error' });
    expect(possiblyLandedTokenIds(err2)).toEqual([]);
  });

  it('a resend refused its write slot still names the earlier, unconfirmed create (review #7)', async () => {
    const c = fakeCluster((n) => (n === 1 ? 'drop' : 'ok'));
    let slots = 0;
    const gate = { acquire: async () => (++slots > 1 ? Promise.reject(new ClusterBusyError(2)) : { at: 0, giveBack: () => {} }) };
    const err = await clientOn(c.fetch, { gate }).tokens.mint({ ttlSeconds: 60 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'cluster_busy' });
    expect(possiblyLandedTokenIds(err)).toHaveLength(1);
  });
});
