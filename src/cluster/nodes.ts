// Nodes through the cluster client: get, paged list, the watch stream (newline-delimited JSON
// events, bookmarks, 410 Gone as a typed error), label/taint merge patches with a uid
// precondition, and the k3s node-password Secret (get, delete). It decides nothing about joins.
import { UpstreamError } from '../errors.ts';
import { KubeApiError, type KubeHttp } from './kube-http.ts';
import { sendOnSlot, UNGOVERNED, type WriteGate } from './write-governor.ts';

const NODES_PATH = '/api/v1/nodes';
const KUBE_SYSTEM_SECRETS = '/api/v1/namespaces/kube-system/secrets';
export const NODE_LIST_PAGE_SIZE = 500;
/** A watch request asks the API server to end it after this long; the watcher then resumes. */
export const NODE_WATCH_TIMEOUT_SECONDS = 60;
const MAX_EVENT_BYTES = 4 * 1024 * 1024;

export interface NodeTaint {
  readonly key: string;
  readonly value?: string;
  readonly effect: string;
}

export interface NodeObject {
  readonly metadata: {
    readonly name: string;
    readonly uid: string;
    readonly resourceVersion?: string;
    readonly creationTimestamp?: string;
    readonly labels?: Readonly<Record<string, string>>;
  };
  readonly spec?: { readonly taints?: readonly NodeTaint[] };
  readonly status?: { readonly conditions?: ReadonlyArray<{ readonly type: string; readonly status?: string; readonly lastHeartbeatTime?: string }> };
}

export type NodeWatchEvent =
  | { readonly type: 'ADDED' | 'MODIFIED' | 'DELETED'; readonly node: NodeObject }
  | { readonly type: 'BOOKMARK'; readonly resourceVersion: string };

/** The resourceVersion a watch resumed from is too old (410 Gone): relist. */
export class WatchExpiredError extends UpstreamError {
  constructor(reason: string) {
    super('the node watch must be restarted from a fresh list', { retryable: true, upstreamStatus: 410, reason });
    this.name = 'WatchExpiredError';
  }
}

export function nodePasswordSecretName(node: string): string {
  return `${node.toLowerCase()}.node-password.k3s`;
}

export function createNodeClient(http: KubeHttp, options: { gate?: WriteGate } = {}) {
  const gate = options.gate ?? UNGOVERNED;
  async function get(name: string): Promise<NodeObject | null> {
    try {
      return (await http.request<NodeObject>('GET', `${NODES_PATH}/${encodeURIComponent(name)}`, 'get nodes')).body;
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return null;
      throw err;
    }
  }

  /** One page; `continue` is the token for the next, null at the end. */
  async function listPage(options: { limit?: number; continue?: string | null } = {}): Promise<{ items: NodeObject[]; resourceVersion: string; continue: string | null }> {
    const q = new URLSearchParams({ limit: String(options.limit ?? NODE_LIST_PAGE_SIZE) });
    if (options.continue) q.set('continue', options.continue);
    let res;
    try {
      res = await http.request<{ items?: NodeObject[]; metadata?: { resourceVersion?: string; continue?: string } }>('GET', `${NODES_PATH}?${q}`, 'list nodes');
    } catch (err) {
      // An expired continue token: the caller starts the listing again.
      if (err instanceof KubeApiError && err.status === 410) throw new WatchExpiredError(err.reason);
      throw err;
    }
    return { items: res.body.items ?? [], resourceVersion: res.body.metadata?.resourceVersion ?? '', continue: res.body.metadata?.continue || null };
  }

  /** Every Node, page by page; the resourceVersion is the last page's (a consistent snapshot). */
  async function listAll(options: { limit?: number; onPage?: (items: readonly NodeObject[]) => Promise<void> | void } = {}): Promise<{ items: NodeObject[]; resourceVersion: string; pages: number }> {
    const items: NodeObject[] = [];
    let cont: string | null = null;
    let pages = 0;
    let rv = '';
    do {
      const page = await listPage({ ...(options.limit ? { limit: options.limit } : {}), continue: cont });
      pages++;
      items.push(...page.items);
      rv = page.resourceVersion;
      cont = page.continue;
      await options.onPage?.(page.items);
    } while (cont !== null);
    return { items, resourceVersion: rv, pages };
  }

  /**
   * Watches Nodes from `resourceVersion` until the server ends the request (timeoutSeconds) or
   * `signal` aborts. A 410 (as the answer or as an ERROR event) throws WatchExpiredError.
   */
  async function* watch(options: { resourceVersion: string; timeoutSeconds?: number; signal?: AbortSignal }): AsyncGenerator<NodeWatchEvent> {
    const timeoutSeconds = options.timeoutSeconds ?? NODE_WATCH_TIMEOUT_SECONDS;
    const q = new URLSearchParams({ watch: 'true', allowWatchBookmarks: 'true', resourceVersion: options.resourceVersion, timeoutSeconds: String(timeoutSeconds) });
    // The server ends the watch itself; this bound only covers a server that does not.
    const deadline = AbortSignal.timeout((timeoutSeconds + 15) * 1000);
    const signal = options.signal ? AbortSignal.any([options.signal, deadline]) : deadline;
    let body: ReadableStream<Uint8Array>;
    try {
      body = await http.stream(`${NODES_PATH}?${q}`, 'watch nodes', signal);
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 410) throw new WatchExpiredError(err.reason);
      throw err;
    }
    for await (const line of lines(body, signal)) yield parseWatchEvent(line);
  }

  /** Merge patch with a uid precondition (a Node re-created under the name is not patched). */
  async function patch(name: string, uid: string, patchBody: { metadata?: { labels?: Record<string, string | null> }; spec?: { taints: NodeTaint[] } }, resourceVersion?: string): Promise<NodeObject> {
    const body = { ...patchBody, metadata: { ...patchBody.metadata, uid, ...(resourceVersion ? { resourceVersion } : {}) } };
    const res = await http.request<NodeObject>('PATCH', `${NODES_PATH}/${encodeURIComponent(name)}`, 'patch nodes', { body: JSON.stringify(body), contentType: 'application/merge-patch+json', idempotent: !resourceVersion });
    return res.body;
  }

  async function getNodePassword(name: string): Promise<{ uid: string; createdAt: number | null } | null> {
    // Usually absent (a first enrollment): asked for as an answer, not an error.
    const s = (await http.request<{ metadata?: { uid?: string; creationTimestamp?: string } } | null>('GET', `${KUBE_SYSTEM_SECRETS}/${nodePasswordSecretName(name)}`, 'get secrets', { absentOk: true })).body;
    if (s === null) return null;
    const t = s.metadata?.creationTimestamp ? Date.parse(s.metadata.creationTimestamp) : Number.NaN;
    return { uid: s.metadata?.uid ?? '', createdAt: Number.isNaN(t) ? null : t };
  }

  /** Deletes `<node>.node-password.k3s` (a Secret write: it takes a slot from the write governor); false when there was none. */
  async function deleteNodePassword(name: string): Promise<boolean> {
    let slot = await gate.acquire('delete', { wait: false });
    try {
      // Each try (kube-http retries a DELETE) is a write: each gets its own slot.
      const through = async <T>(attempt: number, go: () => Promise<T>) => sendOnSlot(gate, 'delete', attempt === 0 ? slot : (slot = await gate.acquire('delete', { wait: false })), go);
      await http.request('DELETE', `${KUBE_SYSTEM_SECRETS}/${nodePasswordSecretName(name)}`, 'delete secrets', { through });
      return true;
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return false;
      throw err;
    }
  }

  return { get, listPage, listAll, watch, patch, getNodePassword, deleteNodePassword };
}

export type NodeClient = ReturnType<typeof createNodeClient>;

/** One watch line → event. An ERROR event with a 410 Status is WatchExpiredError; others are UpstreamErrors. */
export function parseWatchEvent(line: string): NodeWatchEvent {
  let e: { type?: string; object?: { kind?: string; code?: number; reason?: string; message?: string; metadata?: { resourceVersion?: string } } };
  try {
    e = JSON.parse(line);
  } catch {
    throw new UpstreamError('the cluster API sent a watch event that is not JSON', { retryable: true, reason: 'watch nodes: bad event line' });
  }
  const obj = e.object;
  if (e.type === 'ERROR') {
    if (obj?.code === 410) throw new WatchExpiredError(`watch nodes: ${obj.reason ?? 'Expired'}: ${obj.message ?? ''}`);
    throw new UpstreamError('the node watch failed', { retryable: true, reason: `watch nodes: ERROR ${obj?.code ?? '?'} ${obj?.reason ?? ''} ${obj?.message ?? ''}`.trim() });
  }
  if (e.type === 'BOOKMARK') return { type: 'BOOKMARK', resourceVersion: obj?.metadata?.resourceVersion ?? '' };
  if ((e.type === 'ADDED' || e.type === 'MODIFIED' || e.type === 'DELETED') && obj && typeof (obj as NodeObject).metadata?.name === 'string') return { type: e.type, node: obj as unknown as NodeObject };
  throw new UpstreamError('the cluster API sent an unknown watch event', { retryable: true, reason: `watch nodes: event type ${String(e.type).slice(0, 20)}` });
}

/** Splits a byte stream into non-empty lines (chunks may cut lines and UTF-8 sequences anywhere). */
export async function* lines(body: ReadableStream<Uint8Array>, signal?: AbortSignal): AsyncGenerator<string> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  try {
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (cause) {
        // Our own deadline ending a quiet watch is a normal end, not an error.
        if (signal?.aborted) return;
        throw new UpstreamError('the node watch connection broke', { retryable: true, reason: `watch nodes: ${cause instanceof Error ? cause.message : String(cause)}`, cause });
      }
      if (chunk.done) break;
      buf += decoder.decode(chunk.value, { stream: true });
      if (buf.length > MAX_EVENT_BYTES) throw new UpstreamError('the cluster API sent a watch event that is too large', { retryable: true, reason: 'watch nodes: event too large' });
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line !== '') yield line;
      }
    }
    buf += decoder.decode();
    if (buf.trim() !== '') yield buf.trim();
  } finally {
    reader.releaseLock();
    await body.cancel().catch(() => undefined);
  }
}

/** The fields the join rules and the fleet listing read from a Node. */
export function summarizeNode(n: NodeObject): { name: string; uid: string; createdAt: number; readyHeartbeatAt: number | null; labels: Record<string, string>; taints: NodeTaint[] } {
  const created = n.metadata.creationTimestamp ? Date.parse(n.metadata.creationTimestamp) : Number.NaN;
  const ready = n.status?.conditions?.find((c) => c.type === 'Ready' && c.status === 'True');
  const hb = ready?.lastHeartbeatTime ? Date.parse(ready.lastHeartbeatTime) : Number.NaN;
  return {
    name: n.metadata.name,
    uid: n.metadata.uid,
    createdAt: Number.isNaN(created) ? 0 : created,
    readyHeartbeatAt: Number.isNaN(hb) ? null : hb,
    labels: { ...(n.metadata.labels ?? {}) },
    taints: [...(n.spec?.taints ?? [])],
  };
}
