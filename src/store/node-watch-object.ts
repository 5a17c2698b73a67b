// Workers: the fleet's one Node watcher, a singleton Durable Object. Enrollments register the
// machine names awaited (`expect`); while any is, its alarm runs watch sessions back to back
// (src/enroll/join-watch.ts), resuming from the stored resourceVersion, relisting (paged) after
// 410 Gone, retrying with backoff when the cluster is unreachable. With nothing awaited it sends
// nothing. One watch for the fleet instead of one poll per machine: see join-watch.ts.
import { DurableObject } from 'cloudflare:workers';
import { parseConfig } from '../config.ts';
import type { JoinDeps } from '../enroll/join.ts';
import { runWatchSession } from '../enroll/join-watch.ts';
import { createD1MachineIndex } from './d1.ts';
import { createDurableMachineStore, workersAuditLog, workersClusterClient, type MachineObject } from './durable-object.ts';

/** Awaited names are kept this long past their token's expiry (labels owed after a late join). */
export const AWAIT_GRACE_MS = 5 * 60_000;
export const AWAIT_NO_EXPIRY_MS = 24 * 3_600_000;
const BACKOFF_MAX_MS = 30_000;
const RV_KEY = 'rv';
const AWAIT_PREFIX = 'w:';

interface Awaited {
  readonly until: number;
  readonly retry: boolean;
}

export interface NodeWatchEnv {
  NODE_WATCH: DurableObjectNamespace<NodeWatchObject>;
  [k: string]: unknown;
}

export class NodeWatchObject extends DurableObject<Record<string, unknown>> {
  private failures = 0;
  /** Watch windows shortened for tests (NODE_WATCH_TIMEOUT_SECONDS). */
  private timeoutSeconds(): number | undefined {
    const v = Number(this.env.NODE_WATCH_TIMEOUT_SECONDS);
    return Number.isInteger(v) && v > 0 ? v : undefined;
  }

  /** A machine awaits its join until `until` (ms); starts the watch if it is idle. */
  async expect(machineId: string, until: number | null): Promise<void> {
    await this.expectMany([{ machineId, until }]);
  }

  /** Many machines at once (enrollments batched per isolate): one call, one storage commit. */
  async expectMany(items: ReadonlyArray<{ machineId: string; until: number | null }>): Promise<void> {
    const kv = this.ctx.storage.kv;
    for (const { machineId, until } of items) {
      const prev = kv.get<Awaited>(AWAIT_PREFIX + machineId);
      const u = (until ?? Date.now() + AWAIT_NO_EXPIRY_MS) + AWAIT_GRACE_MS;
      kv.put(AWAIT_PREFIX + machineId, { until: Math.max(u, prev?.until ?? 0), retry: prev?.retry ?? false });
    }
    await this.kick();
  }

  /** Starts the watch now if anything is awaited and no alarm is pending (cron, expect). */
  async kick(): Promise<void> {
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(Date.now());
  }

  /** Awaited machine names (for the listing and tests). */
  awaited(): string[] {
    return [...this.ctx.storage.kv.list<Awaited>({ prefix: AWAIT_PREFIX })].map(([k]) => k.slice(AWAIT_PREFIX.length));
  }

  override async alarm(): Promise<void> {
    const kv = this.ctx.storage.kv;
    const now = Date.now();
    const retry: string[] = [];
    let count = 0;
    for (const [k, v] of kv.list<Awaited>({ prefix: AWAIT_PREFIX })) {
      if (v.until < now) kv.delete(k);
      else {
        count++;
        if (v.retry) retry.push(k.slice(AWAIT_PREFIX.length));
      }
    }
    if (count === 0) return; // idle: no watch, no requests, until the next expect()
    let deps: JoinDeps;
    try {
      const cfg = parseConfig(this.env);
      // Consume-on-join deletes are Secret writes: paced by the write governor like every other.
      const cluster = workersClusterClient(this.env);
      deps = {
        machines: createDurableMachineStore(this.env.MACHINES as DurableObjectNamespace<MachineObject>),
        index: createD1MachineIndex(this.env.DB as D1Database),
        audit: workersAuditLog(this.env, cfg),
        cluster,
        now: () => new Date(),
        quarantine: cfg.quarantineUnattested,
      };
    } catch {
      await this.ctx.storage.setAlarm(Date.now() + BACKOFF_MAX_MS); // misconfigured: requests say so
      return;
    }
    const timeoutSeconds = this.timeoutSeconds();
    try {
      await runWatchSession(deps, {
        resourceVersion: kv.get<string>(RV_KEY) ?? null,
        isAwaited: (name) => kv.get(AWAIT_PREFIX + name) !== undefined,
        onHandled: (name, r) => {
          const cur = kv.get<Awaited>(AWAIT_PREFIX + name);
          if (!cur) return;
          if (r.awaiting || r.retry) kv.put(AWAIT_PREFIX + name, { until: cur.until, retry: r.retry });
          else kv.delete(AWAIT_PREFIX + name);
        },
        retry,
        checkpoint: (rv) => {
          if (rv === null) kv.delete(RV_KEY);
          else kv.put(RV_KEY, rv);
        },
        ...(timeoutSeconds ? { timeoutSeconds } : {}),
      });
      this.failures = 0;
      // A failed label patch is retried after a short pause, not in a tight loop.
      await this.ctx.storage.setAlarm(Date.now() + (retry.length > 0 ? 1_000 : 0));
    } catch (err) {
      // Cluster unreachable or refusing: nothing is lost (the next session resumes from the
      // stored resourceVersion or relists); back off up to 30 s.
      this.failures++;
      console.log(JSON.stringify({ level: 'warn', event: 'node_watch.failed', failures: this.failures, error: err instanceof Error ? err.message : String(err) }));
      await this.ctx.storage.setAlarm(Date.now() + Math.min(BACKOFF_MAX_MS, 500 * 2 ** Math.min(this.failures, 6)));
    }
  }
}

/** The port the enrollment uses: one RPC to the singleton per enrollment. */
export function createDurableJoinWatch(ns: DurableObjectNamespace<NodeWatchObject>) {
  const stub = () => ns.get(ns.idFromName('fleet'));
  return {
    expect: (machineId: string, until: number | null) => stub().expect(machineId, until),
    kick: () => stub().kick(),
    awaited: () => stub().awaited() as Promise<string[]>,
  };
}
