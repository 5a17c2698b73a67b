// The Node client against a scripted fetch: paged lists, the watch stream cut at arbitrary bytes,
// bookmarks, 410 Gone (as the answer and as an ERROR event), patches with a uid precondition,
// the node-password Secret. The real round trips are in the e2e tests against the dev cluster.
import { describe, expect, it } from 'vitest';
import { UpstreamError } from '../errors.ts';
import { createKubeHttp, KubeApiError } from './kube-http.ts';
import { createNodeClient, lines, nodePasswordSecretName, parseWatchEvent, summarizeNode, WatchExpiredError, type NodeWatchEvent } from './nodes.ts';

const status = (code: number, reason: string) => JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: reason, reason, code });
const nodeJson = (name: string, rv: string) => ({ metadata: { name, uid: `uid-${name}`, resourceVersion: rv, creationTimestamp: '2026-01-01T00:00:00Z' } });

function scripted(answers: Array<Response | Error>) {
  const calls: { method: string; url: string; headers: Headers; body: string | null }[] = [];
  const fetch = (async (url: string, init: RequestInit) => {
    calls.push({ method: init.method ?? 'GET', url, headers: new Headers(init.headers), body: typeof init.body === 'string' ? init.body : null });
    const a = answers.shift();
    if (!a) throw new Error('no more answers');
    if (a instanceof Error) throw a;
    return a;
  }) as unknown as typeof globalThis.fetch;
  return { fetch, calls };
}
const client = (s: ReturnType<typeof scripted>, timeoutMs = 5_000) => createNodeClient(createKubeHttp({ baseUrl: 'https://api.test', bearer: 'sa', now: () => new Date(0), sleep: async () => {}, fetch: s.fetch, timeoutMs }));

function chunked(text: string, cuts: number[]): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  const pieces: Uint8Array[] = [];
  let at = 0;
  for (const c of [...cuts, bytes.length]) {
    pieces.push(bytes.slice(at, c));
    at = c;
  }
  return new ReadableStream({
    pull(ctl) {
      const p = pieces.shift();
      if (p) ctl.enqueue(p);
      else ctl.close();
    },
  });
}

describe('node client', () => {
  it('lists page by page with continue tokens and returns the last resourceVersion', async () => {
    const s = scripted([
      Response.json({ items: [nodeJson('a', '5')], metadata: { resourceVersion: '10', continue: 'c1' } }),
      Response.json({ items: [nodeJson('b', '6')], metadata: { resourceVersion: '10' } }),
    ]);
    const pages: string[][] = [];
    const r = await client(s).listAll({ limit: 1, onPage: (items) => void pages.push(items.map((i) => i.metadata.name)) });
    expect(r).toMatchObject({ resourceVersion: '10', pages: 2 });
    expect(pages).toEqual([['a'], ['b']]);
    expect(s.calls.map((c) => new URL(c.url).search)).toEqual(['?limit=1', '?limit=1&continue=c1']);
  });

  it('an expired continue token (410) is a WatchExpiredError', async () => {
    const s = scripted([new Response(status(410, 'Expired'), { status: 410 })]);
    await expect(client(s).listPage({ continue: 'old' })).rejects.toBeInstanceOf(WatchExpiredError);
  });

  it('watches from a resourceVersion with bookmarks and a server-side timeout, events split at any byte', async () => {
    const text = [
      JSON.stringify({ type: 'ADDED', object: { ...nodeJson('édge', '11') } }),
      JSON.stringify({ type: 'BOOKMARK', object: { kind: 'Node', metadata: { resourceVersion: '12' } } }),
      JSON.stringify({ type: 'DELETED', object: nodeJson('b', '13') }),
    ].join('\n') + '\n';
    for (const cuts of [[], [1], [5, 6, 7], [text.indexOf('é') + 1], [text.length - 1]]) {
      const s = scripted([new Response(chunked(text, cuts))]);
      const got: NodeWatchEvent[] = [];
      for await (const e of client(s).watch({ resourceVersion: '10', timeoutSeconds: 30 })) got.push(e);
      expect(got.map((e) => (e.type === 'BOOKMARK' ? `B${e.resourceVersion}` : `${e.type}:${e.node.metadata.name}`))).toEqual(['ADDED:édge', 'B12', 'DELETED:b']);
      expect(Object.fromEntries(new URL(s.calls[0]!.url).searchParams)).toEqual({ watch: 'true', allowWatchBookmarks: 'true', resourceVersion: '10', timeoutSeconds: '30' });
    }
  });

  it('410 Gone, as the answer or as an ERROR event, is a WatchExpiredError; other ERRORs are retryable upstream errors', async () => {
    const gone = scripted([new Response(status(410, 'Expired'), { status: 410 })]);
    await expect(client(gone).watch({ resourceVersion: '1' }).next()).rejects.toBeInstanceOf(WatchExpiredError);
    const inStream = scripted([new Response(JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' } }) + '\n')]);
    await expect(client(inStream).watch({ resourceVersion: '1' }).next()).rejects.toBeInstanceOf(WatchExpiredError);
    expect(() => parseWatchEvent(JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 500 } }))).toThrow(UpstreamError);
    expect(() => parseWatchEvent('{not json')).toThrow(UpstreamError);
    expect(() => parseWatchEvent(JSON.stringify({ type: 'WHAT', object: {} }))).toThrow(/unknown watch event/);
  });

  it('a watch refused (403) is a typed error; an unreachable cluster is a retryable UpstreamError', async () => {
    const forbidden = scripted([new Response(status(403, 'Forbidden'), { status: 403 })]);
    const err = await client(forbidden).watch({ resourceVersion: '1' }).next().catch((e) => e);
    expect(err).toBeInstanceOf(KubeApiError);
    expect((err as KubeApiError).status).toBe(403);
    const down = scripted([new TypeError('connect ECONNREFUSED')]);
    const e2 = await client(down).watch({ resourceVersion: '1' }).next().catch((e) => e);
    expect(e2).toBeInstanceOf(UpstreamError);
    expect((e2 as UpstreamError).retryable).toBe(true);
  });

  it('a connection broken mid-stream is a retryable UpstreamError', async () => {
    let sent = false;
    const body = new ReadableStream<Uint8Array>({
      pull(ctl) {
        if (!sent) {
          sent = true;
          ctl.enqueue(new TextEncoder().encode(JSON.stringify({ type: 'ADDED', object: nodeJson('a', '2') }) + '\n'));
        } else ctl.error(new Error('socket hang up'));
      },
    });
    const got: string[] = [];
    const err = await (async () => {
      for await (const e of lines(body)) got.push(e);
    })().catch((e) => e);
    expect(got).toHaveLength(1);
    expect(err).toBeInstanceOf(UpstreamError);
    expect((err as UpstreamError).retryable).toBe(true);
  });

  it('patches with merge-patch+json and the uid as a precondition', async () => {
    const s = scripted([Response.json(nodeJson('edge-1', '20'))]);
    await client(s).patch('edge-1', 'uid-edge-1', { metadata: { labels: { 'k3s-enroll.node-restriction.kubernetes.io/site': 'berlin', 'old': null } } });
    expect(s.calls[0]).toMatchObject({ method: 'PATCH', url: 'https://api.test/api/v1/nodes/edge-1' });
    expect(s.calls[0]!.headers.get('content-type')).toBe('application/merge-patch+json');
    expect(JSON.parse(s.calls[0]!.body!)).toEqual({ metadata: { labels: { 'k3s-enroll.node-restriction.kubernetes.io/site': 'berlin', old: null }, uid: 'uid-edge-1' } });
  });

  it('a refused patch surfaces as KubeApiError (403/409), not retried', async () => {
    const s = scripted([new Response(status(409, 'Conflict'), { status: 409 })]);
    const err = await client(s).patch('edge-1', 'uid-x', { metadata: { labels: {} } }, '7').catch((e) => e);
    expect(err).toBeInstanceOf(KubeApiError);
    expect(s.calls).toHaveLength(1);
  });

  it('node-password Secret: name lowercased, get and delete (absent is null/false)', async () => {
    expect(nodePasswordSecretName('Edge-1')).toBe('edge-1.node-password.k3s');
    const s = scripted([
      Response.json({ metadata: { uid: 'u1', creationTimestamp: '2026-01-01T00:00:05Z' } }),
      new Response(status(404, 'NotFound'), { status: 404 }),
      new Response('{}'),
      new Response(status(404, 'NotFound'), { status: 404 }),
    ]);
    const c = client(s);
    expect(await c.getNodePassword('edge-1')).toEqual({ uid: 'u1', createdAt: Date.parse('2026-01-01T00:00:05Z') });
    expect(await c.getNodePassword('edge-1')).toBeNull();
    expect(await c.deleteNodePassword('edge-1')).toBe(true);
    expect(await c.deleteNodePassword('edge-1')).toBe(false);
    expect(s.calls.map((x) => `${x.method} ${new URL(x.url).pathname}`)).toEqual([
      'GET /api/v1/namespaces/kube-system/secrets/edge-1.node-password.k3s',
      'GET /api/v1/namespaces/kube-system/secrets/edge-1.node-password.k3s',
      'DELETE /api/v1/namespaces/kube-system/secrets/edge-1.node-password.k3s',
      'DELETE /api/v1/namespaces/kube-system/secrets/edge-1.node-password.k3s',
    ]);
  });

  it('the node-password DELETE is a Secret write: it takes a delete slot from the write governor first; the GET takes none', async () => {
    const s = scripted([new Response(status(404, 'NotFound'), { status: 404 }), new Response('{}')]);
    const taken: string[] = [];
    const c = createNodeClient(createKubeHttp({ baseUrl: 'https://api.test', bearer: 'sa', now: () => new Date(0), sleep: async () => {}, fetch: s.fetch }), {
      gate: { acquire: async (kind) => (taken.push(`${kind}@${s.calls.length}`), { at: 0, giveBack: () => {} }) },
    });
    expect(await c.getNodePassword('edge-1')).toBeNull();
    expect(taken).toEqual([]);
    expect(await c.deleteNodePassword('edge-1')).toBe(true);
    expect(taken).toEqual(['delete@1']); // taken before the DELETE left
  });

  it('summarizes a Node: creation, Ready heartbeat, labels, taints', () => {
    expect(
      summarizeNode({
        metadata: { name: 'n', uid: 'u', creationTimestamp: '2026-01-01T00:00:00Z', labels: { a: 'b' } },
        spec: { taints: [{ key: 'k', effect: 'NoSchedule' }] },
        status: { conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: '2026-01-01T00:01:00Z' }] },
      }),
    ).toEqual({ name: 'n', uid: 'u', createdAt: Date.parse('2026-01-01T00:00:00Z'), readyHeartbeatAt: Date.parse('2026-01-01T00:01:00Z'), labels: { a: 'b' }, taints: [{ key: 'k', effect: 'NoSchedule' }] });
  });
});
