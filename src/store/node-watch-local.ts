// The fleet's Node watcher inside one long-lived process (the Deno entry): the same watch
// sessions as the Workers singleton (src/enroll/join-watch.ts), run back to back while any
// machine awaits its join, with the awaited names and the resourceVersion held in memory. The
// sweeper re-adds awaited machines from the store, so a restarted process picks them up again.
import type { JoinDeps } from '../enroll/join.ts';
import { runWatchSession } from '../enroll/join-watch.ts';

const GRACE_MS = 5 * 60_000;
const NO_EXPIRY_MS = 24 * 3_600_000;
const BACKOFF_MAX_MS = 30_000;

export function createLocalJoinWatch(depsFor: () => JoinDeps | null, options: { timeoutSeconds?: number; log?: (event: string, fields: Record<string, unknown>) => void } = {}) {
  const awaited = new Map<string, { until: number; retry: boolean }>();
  let rv: string | null = null;
  let running: Promise<void> | null = null;
  let stopped = false;
  const abort = new AbortController();
  const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

  async function loop(): Promise<void> {
    let failures = 0;
    while (!stopped) {
      const now = Date.now();
      for (const [k, v] of awaited) if (v.until < now) awaited.delete(k);
      if (awaited.size === 0) return;
      const deps = depsFor();
      if (deps === null) return;
      const retry = [...awaited].filter(([, v]) => v.retry).map(([k]) => k);
      try {
        const r = await runWatchSession(deps, {
          resourceVersion: rv,
          isAwaited: (name) => awaited.has(name),
          onHandled: (name, h) => {
            const cur = awaited.get(name);
            if (!cur) return;
            if (h.awaiting || h.retry) awaited.set(name, { until: cur.until, retry: h.retry });
            else awaited.delete(name);
          },
          retry,
          checkpoint: (v) => {
            rv = v;
          },
          ...(options.timeoutSeconds ? { timeoutSeconds: options.timeoutSeconds } : {}),
          signal: abort.signal,
        });
        rv = r.resourceVersion;
        failures = 0;
        if (retry.length > 0) await sleep(1_000);
      } catch (err) {
        failures++;
        options.log?.('node_watch.failed', { failures, error: err instanceof Error ? err.message : String(err) });
        await sleep(Math.min(BACKOFF_MAX_MS, 500 * 2 ** Math.min(failures, 6)));
      }
    }
  }

  function kick(): void {
    if (running || stopped) return;
    running = loop().finally(() => {
      running = null;
      // An expect() that arrived while the loop was ending.
      if (awaited.size > 0 && !stopped) kick();
    });
  }

  return {
    async expect(machineId: string, until: number | null): Promise<void> {
      const u = (until ?? Date.now() + NO_EXPIRY_MS) + GRACE_MS;
      const prev = awaited.get(machineId);
      awaited.set(machineId, { until: Math.max(u, prev?.until ?? 0), retry: prev?.retry ?? false });
      kick();
    },
    kick,
    awaited: () => [...awaited.keys()],
    stop(): void {
      stopped = true;
      abort.abort();
    },
  };
}
