// The cluster write governor: every Secret create and delete the service sends takes a send time
// ("slot") from one schedule paced at 1000/cap ms, so no one-second window holds more than `cap`
// writes. A create that cannot be scheduled within CREATE_HORIZON_MS is refused (cluster_busy)
// before anything is reserved; a delete may book further ahead, so creates never starve it.
// Pure schedule + an isolate-side gate that fetches slots in batches; timers and clock injected.
import { AppError } from '../errors.ts';

export type WriteKind = 'create' | 'delete';

/** Default cap for one k3s server: see docs/operator-guide.md "Boot storms". */
export const CLUSTER_MAX_WRITES_PER_SECOND_DEFAULT = 20;
/** A create waits at most this long for its slot; beyond it the enrollment answers cluster_busy. */
export const CREATE_HORIZON_MS = 2_000;
/** Deletes may book this far ahead (they are retried by the alarm/sweeper when refused). */
export const DELETE_HORIZON_MS = 60_000;

export interface GovernorSchedule {
  /** The earliest time (ms, fractional) the next slot may be handed out. */
  readonly nextFreeMs: number;
}

export interface SlotRequest {
  readonly creates: number;
  readonly deletes: number;
}

export interface SlotGrant {
  /** Send times (ms) for the granted creates, earliest first; fewer than asked = busy. */
  readonly creates: number[];
  readonly deletes: number[];
  /** When a refused create could next expect a slot (ms from now), for Retry-After. */
  readonly busyForMs: number;
}

/** Books slots: deletes first (they are never refused within DELETE_HORIZON_MS), then creates. */
export function allocateSlots(schedule: GovernorSchedule | null, req: SlotRequest, now: number, cap: number): { schedule: GovernorSchedule; grant: SlotGrant } {
  if (!(cap > 0)) throw new TypeError('cap must be positive');
  const interval = 1000 / cap;
  let next = Math.max(schedule?.nextFreeMs ?? now, now);
  const deletes: number[] = [];
  const creates: number[] = [];
  for (let i = 0; i < req.deletes && next - now <= DELETE_HORIZON_MS; i++, next += interval) deletes.push(Math.ceil(next));
  for (let i = 0; i < req.creates && next - now <= CREATE_HORIZON_MS; i++, next += interval) creates.push(Math.ceil(next));
  return { schedule: { nextFreeMs: next }, grant: { creates, deletes, busyForMs: Math.max(0, next - now - CREATE_HORIZON_MS) + interval } };
}

/** Where the gate gets its slots: a Durable Object on Workers, an in-process schedule on Deno. */
export interface SlotSource {
  allocate(req: SlotRequest, now: number): Promise<SlotGrant>;
}

/** A write slot for `kind`: resolves at its send time; a create with no slot soon throws cluster_busy. */
export interface WriteGate {
  acquire(kind: WriteKind): Promise<void>;
}

export class ClusterBusyError extends AppError {
  constructor(retryAfterSeconds: number, reason = 'write governor: no slot within the horizon') {
    super('cluster_busy', 'the cluster is taking as many new tokens as it safely can; retry after the given time', { reason, retryAfterSeconds });
    this.name = 'ClusterBusyError';
  }
}

/** Retry-After for a refused create: the expected wait plus up to 100 % jitter, so a refused crowd spreads out. */
export function busyRetryAfterSeconds(busyForMs: number, random: () => number): number {
  const base = Math.max(1, Math.ceil(busyForMs / 1000));
  return base + Math.floor(random() * (base + 1));
}

/** A gate with a local in-process schedule (Deno, tests): no round trip at all. */
export function createLocalSlotSource(cap: number): SlotSource {
  let schedule: GovernorSchedule | null = null;
  return {
    async allocate(req, now) {
      const r = allocateSlots(schedule, req, now, cap);
      schedule = r.schedule;
      return r.grant;
    },
  };
}

/**
 * Isolate-side gate: acquirers queue; one allocate call at a time asks for everything queued, so a
 * burst of N enrollments costs about one round trip to the slot source, not N.
 */
export function createBatchedWriteGate(source: SlotSource, deps: { now: () => number; sleep: (ms: number) => Promise<void>; random: () => number }): WriteGate {
  type Waiter = { kind: WriteKind; resolve: (at: number) => void; reject: (err: unknown) => void };
  let queue: Waiter[] = [];
  let inFlight = false;

  async function pump(): Promise<void> {
    if (inFlight || queue.length === 0) return;
    inFlight = true;
    const batch = queue;
    queue = [];
    try {
      const deletes = batch.filter((w) => w.kind === 'delete');
      const creates = batch.filter((w) => w.kind === 'create');
      const grant = await source.allocate({ creates: creates.length, deletes: deletes.length }, deps.now());
      deletes.forEach((w, i) => (i < grant.deletes.length ? w.resolve(grant.deletes[i]!) : w.reject(new ClusterBusyError(busyRetryAfterSeconds(DELETE_HORIZON_MS, deps.random)))));
      creates.forEach((w, i) => (i < grant.creates.length ? w.resolve(grant.creates[i]!) : w.reject(new ClusterBusyError(busyRetryAfterSeconds(grant.busyForMs, deps.random)))));
    } catch (err) {
      // The governor itself is unreachable: refuse (nothing is reserved yet) rather than write unpaced.
      for (const w of batch) w.reject(new ClusterBusyError(busyRetryAfterSeconds(1000, deps.random), `write governor unreachable: ${err instanceof Error ? err.message : String(err)}`));
    } finally {
      inFlight = false;
      void pump();
    }
  }

  return {
    async acquire(kind) {
      const at = await new Promise<number>((resolve, reject) => {
        queue.push({ kind, resolve, reject });
        void pump();
      });
      const wait = at - deps.now();
      if (wait > 0) await deps.sleep(wait);
    },
  };
}

/** No governor (tests, tools): every write may go at once. */
export const UNGOVERNED: WriteGate = { acquire: async () => {} };
