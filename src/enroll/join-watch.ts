// One watch session for the whole fleet: resume the Node watch from the last resourceVersion (or
// list every Node, page by page, when there is none or it expired with 410 Gone), and hand each
// Node whose name is an awaited machine to the join use case. The runtime keeps the session going
// (a singleton Durable Object's alarm on Workers, the sweeper's loop on Deno).
//
// Why one watch and not a poll per machine: 1,000 machines enrolling at once, each polled every
// 2 s, would send the API server 500 GETs a second for as long as they wait. A watch costs one
// long request per NODE_WATCH_TIMEOUT_SECONDS for the whole fleet, whatever its size, and delivers
// a new Node within the watch's latency (no polling interval). Per joined machine the extra
// requests are the token delete (which its expiry would have cost anyway) and one label patch; a
// re-imaged machine adds one node-password GET and the reset DELETE at enrollment. A relist costs
// ceil(nodes / NODE_LIST_PAGE_SIZE) GETs and only happens at start or after 410 Gone.
import { WatchExpiredError, type NodeObject } from '../cluster/index.ts';
import { handleNode, type JoinDeps, type NodeHandled } from './join.ts';

export interface WatchSessionOptions {
  /** Where the previous session stopped; null lists first. */
  readonly resourceVersion: string | null;
  /** Is a join awaited (or a label owed) for this machine name? Read on every event. */
  readonly isAwaited: (name: string) => boolean | Promise<boolean>;
  /** Called after a Node of an awaited name was handled (drop it when nothing more is awaited). */
  readonly onHandled: (name: string, result: NodeHandled) => void | Promise<void>;
  /** Names whose last handling failed: each is looked up with one GET before the watch resumes. */
  readonly retry?: readonly string[];
  /** Persists progress (called after each page and each event batch). */
  readonly checkpoint: (resourceVersion: string | null) => void | Promise<void>;
  readonly timeoutSeconds?: number;
  readonly signal?: AbortSignal;
}

export interface WatchSessionResult {
  readonly resourceVersion: string | null;
  readonly relisted: boolean;
  readonly events: number;
  readonly handled: number;
}

/** Nodes handled at once within a session (a boot storm's joins do not queue behind each other). */
export const WATCH_HANDLE_CONCURRENCY = 16;

export async function runWatchSession(deps: JoinDeps, opts: WatchSessionOptions): Promise<WatchSessionResult> {
  let rv = opts.resourceVersion;
  let relisted = false;
  let events = 0;
  let handled = 0;
  // Handling runs concurrently, up to WATCH_HANDLE_CONCURRENCY at a time (each machine's store is
  // atomic). The resourceVersion checkpointed is the last one whose event and every event before
  // it were handled, so a failure never skips an event.
  type Entry = { rv: string | null; done: boolean; ok: boolean; p: Promise<void> };
  const queue: Entry[] = [];
  let failure: unknown = null;
  let settledRv = rv;
  const running = () => queue.filter((q) => !q.done);
  const advance = () => {
    // A failed event stops the checkpoint before it: the next session sees it again.
    while (queue.length > 0 && queue[0]!.done && queue[0]!.ok) settledRv = queue.shift()!.rv ?? settledRv;
  };
  const consider = (node: NodeObject, at: string | null) => {
    const entry: Entry = { rv: at, done: false, ok: true, p: Promise.resolve() };
    entry.p = (async () => {
      if (!(await opts.isAwaited(node.metadata.name))) return;
      handled++;
      await opts.onHandled(node.metadata.name, await handleNode(node, deps));
    })()
      .catch((err: unknown) => {
        entry.ok = false;
        failure ??= err;
      })
      .finally(() => {
        entry.done = true;
      });
    queue.push(entry);
  };
  const room = async () => {
    while (running().length >= WATCH_HANDLE_CONCURRENCY) await Promise.race(running().map((q) => q.p));
    advance();
    if (failure !== null) throw failure;
  };
  const drain = async () => {
    await Promise.all(queue.map((q) => q.p));
    advance();
    if (failure !== null) throw failure;
  };
  for (const name of opts.retry ?? []) {
    const node = await deps.cluster.nodes.get(name);
    if (node) consider(node, rv);
    else await opts.onHandled(name, { awaiting: await opts.isAwaited(name), joined: false, labelled: false, retry: false });
  }
  await drain();
  if (rv === null) {
    const list = await deps.cluster.nodes.listAll({
      onPage: async (items) => {
        for (const n of items) {
          consider(n, null);
          await room();
        }
        await drain();
      },
    });
    rv = list.resourceVersion;
    settledRv = rv;
    relisted = true;
    await opts.checkpoint(rv);
  }
  try {
    for await (const ev of deps.cluster.nodes.watch({ resourceVersion: rv, ...(opts.timeoutSeconds ? { timeoutSeconds: opts.timeoutSeconds } : {}), ...(opts.signal ? { signal: opts.signal } : {}) })) {
      events++;
      if (ev.type === 'BOOKMARK') {
        if (ev.resourceVersion) rv = ev.resourceVersion;
        queue.push({ rv, done: true, ok: true, p: Promise.resolve() });
        await room();
        await opts.checkpoint(settledRv);
        continue;
      }
      rv = ev.node.metadata.resourceVersion ?? rv;
      if (ev.type !== 'DELETED') consider(ev.node, rv);
      else queue.push({ rv, done: true, ok: true, p: Promise.resolve() });
      await room();
    }
    await drain();
  } catch (err) {
    await Promise.all(queue.map((q) => q.p));
    if (err instanceof WatchExpiredError) {
      // Too old to resume: the next session lists again (nothing is lost, handling is idempotent).
      await opts.checkpoint(null);
      return { resourceVersion: null, relisted, events, handled };
    }
    // Resume from the last event handled with everything before it.
    advance();
    await opts.checkpoint(settledRv);
    throw err;
  }
  await opts.checkpoint(settledRv);
  return { resourceVersion: settledRv, relisted, events, handled };
}
