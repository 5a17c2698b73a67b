// The cluster write governor: every Secret create and delete the service sends takes a send time
// ("slot") from one schedule paced at 1000/cap ms, so no one-second window holds more than `cap`
// writes. A create that cannot be scheduled within CREATE_HORIZON_MS is refused (cluster_busy)
// before anything is reserved; a delete may book further ahead, so creates never starve it.
// Pure schedule + an isolate-side gate that fetches slots in batches; timers and clock injected.
import { AppError } from '../errors.ts';

export type WriteKind = 'create' | 'delete';

/** Default cap for one k3s server: see docs/operator-guide.md "Boot storms". */
export const CLUSTER_MAX_WRITES_PER_SECOND_DEFAULT = 20;
/**
 * A create waits at most this long for its slot; beyond it the enrollment answers cluster_busy.
 * Short, so a request's wait stays well under a second and the crowd is spread by Retry-After.
 */
export const CREATE_HORIZON_MS = 600;
/**
 * Admission (WriteGate.admit): an isolate lets in as many create-enrollments as the paced schedule
 * serves in this long. By Little's law that is about how long an admitted enrollment waits for its
 * slot; what it then takes (create round trip, commit) comes on top, so it is kept well under the
 * one-second answer the storm aims for. Enough to keep the pipeline full: at 40 slots/s it admits
 * 16, and an enrollment's own work takes ~0.2–0.3 s of them.
 */
export const ADMIT_IN_FLIGHT_MS = 400;
/**
 * But never fewer than this: an isolate needs about rate × (its own work + the cluster's round
 * trip) enrollments in flight to use its slots, and over a real network that round trip alone can
 * be 0.3–0.5 s (at the default cap, 16 slots/s × 0.5 s = 8). Low caps then wait longer for a slot
 * (at 20: 10 / 16 s⁻¹ ≈ 0.6 s, still within CREATE_HORIZON_MS).
 */
export const ADMIT_IN_FLIGHT_MIN = 10;

/** How many create-enrollments one isolate lets in at once under `cap` (WriteGate.admit). */
export function admissionLimit(cap: number): number {
  return Math.max(ADMIT_IN_FLIGHT_MIN, Math.ceil((cap * PACE_FRACTION * ADMIT_IN_FLIGHT_MS) / 1000));
}
/** How long an acquirer waits for a slot to reach the pool before giving up. */
export const GATE_WAIT_MAX_MS = 10_000;
/** Deletes may book this far ahead (they are retried by the alarm/sweeper when refused). */
export const DELETE_HORIZON_MS = 60_000;

export interface GovernorSchedule {
  /** The earliest time (ms, fractional) the next slot may be handed out. */
  readonly nextFreeMs: number;
}

export interface SlotRequest {
  readonly creates: number;
  readonly deletes: number;
  /** Creates to book beyond `creates` if the schedule is free within SPARE_HORIZON_MS (see there). */
  readonly spareCreates?: number;
}

/**
 * A refill for creates also asks for up to this many spare slots, for the enrollments that come
 * next: each would otherwise make its own call to the governor (a Durable Object round trip:
 * about 1 ms of workerd CPU in Miniflare, and a network hop on Workers) whenever fewer than two
 * wait at once, as at any moderate rate.
 */
export const SPARE_CREATES_MAX = 4;
/**
 * Spare slots are granted only while the schedule, after them, ends within this long of the
 * present, so they never move it further ahead than this: when it is booked ahead (a storm) none
 * are granted and no isolate hoards slots another needs; a spare not used by its time +
 * SLOT_STALE_MS is dropped, and what it cost is schedule time nobody was asking for. So spares
 * need slots at most 50 ms apart (a cap of 25 or more): at the default cap, 20, there are none.
 */
export const SPARE_HORIZON_MS = 100;

export interface SlotGrant {
  /** Send times (ms) for the granted creates, earliest first; fewer than asked = busy. */
  readonly creates: number[];
  readonly deletes: number[];
  /** When a refused create could next expect a slot (ms from now), for Retry-After. */
  readonly busyForMs: number;
}

/**
 * The schedule hands out slots at this fraction of the cap, so that (a) slots sent up to
 * SLOT_LATE_MS late still make at most cap sends in any second across isolates (0.8 × 1.2 < 1),
 * and (b) an isolate's send window (writes counted until a second after their answer) keeps up
 * with its slots while answers take up to ~250 ms to reach it, instead of making them late
 * (at 0.9 a storm's p99 create waited 1.5 s on fresh slots; at 0.8, 0.8 s).
 */
export const PACE_FRACTION = 0.8;

/** Books slots: deletes first (they are never refused within DELETE_HORIZON_MS), then creates. */
export function allocateSlots(schedule: GovernorSchedule | null, req: SlotRequest, now: number, cap: number): { schedule: GovernorSchedule; grant: SlotGrant } {
  if (!(cap > 0)) throw new TypeError('cap must be positive');
  const interval = 1000 / (cap * PACE_FRACTION);
  let next = Math.max(schedule?.nextFreeMs ?? now, now);
  const deletes: number[] = [];
  const creates: number[] = [];
  for (let i = 0; i < req.deletes && next - now <= DELETE_HORIZON_MS; i++, next += interval) deletes.push(Math.ceil(next));
  for (let i = 0; i < req.creates && next - now <= CREATE_HORIZON_MS; i++, next += interval) creates.push(Math.ceil(next));
  // A spare only if the schedule still ends within the spare horizon after it: spares never move it
  // further ahead than that (nor past WriteGovernorObject's PERSIST_AHEAD_MS: no storage write).
  for (let i = 0; i < Math.min(req.spareCreates ?? 0, SPARE_CREATES_MAX) && next + interval - now <= SPARE_HORIZON_MS; i++, next += interval) creates.push(Math.ceil(next));
  return { schedule: { nextFreeMs: next }, grant: { creates, deletes, busyForMs: Math.max(0, next - now - CREATE_HORIZON_MS) + interval } };
}

/** Where the gate gets its slots: a Durable Object on Workers, an in-process schedule on Deno. */
export interface SlotSource {
  allocate(req: SlotRequest, now: number): Promise<SlotGrant>;
}

/**
 * A write slot for `kind`: resolves at its send time (or at once with `wait: false`, so the caller
 * can do its own work first); a create with no slot soon throws cluster_busy.
 */
export interface WriteGate {
  acquire(kind: WriteKind, options?: { wait?: boolean }): Promise<WriteSlot>;
  /**
   * Sends one write on `slot` (see sendOnSlot): waits for the slot's time and for room in the
   * isolate's send window, takes a fresh slot if this one is late, and counts the write until
   * its answer. Absent on gates that pace nothing (tests, UNGOVERNED).
   */
  send?<T>(kind: WriteKind, slot: WriteSlot, write: () => Promise<T>): Promise<T>;
  /**
   * Lets one create-enrollment in before its proof is checked, or refuses it (cluster_busy) when
   * this isolate already has more in flight than the governor can serve within its horizon: the
   * refusal it would get later anyway, without the proof check and the store round trip. Returns
   * the release. Absent on gates without a cap.
   */
  admit?(): () => void;
}

/** Sends `write` through the gate's send window when it has one; otherwise at once. */
export function sendOnSlot<T>(gate: WriteGate, kind: WriteKind, slot: WriteSlot | null, write: () => Promise<T>): Promise<T> {
  return gate.send && slot ? gate.send(kind, slot, write) : write();
}

/** A slot taken but not used (the enrollment was refused before its create) goes back to the pool. */
export interface WriteSlot {
  /** The send time (ms) this slot was granted for. */
  readonly at: number;
  giveBack(): void;
}
const NO_SLOT: WriteSlot = { at: -Infinity, giveBack: () => {} };
/**
 * A slot used this much after its time would bunch writes into a later second: take a fresh one.
 * At most cap × SLOT_LATE_MS / 1000 extra sends can share a second with on-time ones (20 %).
 */
export const SLOT_LATE_MS = 200;
/** A write that keeps finding its slot late (a starved isolate) gives up after this many fresh slots. */
export const LATE_RESLOTS_MAX = 3;
/** The send window: a write counts from its send until this long after its answer. */
export const SEND_WINDOW_MS = 1000;
/**
 * An unanswered write or an unreleased admission this old is forgotten: on Workers a cancelled
 * request's promises never settle, so its `finally` never runs. Longer than any cluster call
 * (kube-http: 5 s for the headers, 5 s for the body, twice re-armed on a late timer).
 */
export const FORGET_AFTER_MS = 30_000;
/**
 * An admission is a lease this long, released earlier when its enrollment ends. Admission only
 * sheds load (the schedule and the send window hold the cap), so a lease that outlives nothing
 * honest is safe to drop: a client that opens enrollments and drops the connection (its `finally`
 * never runs on Workers) holds a place for this long, not FORGET_AFTER_MS. An admitted enrollment
 * waits at most CREATE_HORIZON_MS for its slot and then one create.
 */
export const ADMIT_LEASE_MS = 2_000;

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

/** An allocate call not answered in this time is given up (its request may have been cancelled). */
export const REFILL_TIMEOUT_MS = 2_000;
/** How often a request waiting for another request's allocate call looks at the pool again. */
export const GATE_POLL_MS = 10;
/** A pooled slot this late is dropped rather than sent (sending it would bunch writes). */
const SLOT_STALE_MS = 100;

/**
 * Isolate-side gate. Slots come from the source in batches into a local pool; a request takes one
 * from the pool, or — if none is there — makes the allocate call itself for everyone waiting, or
 * looks again in GATE_POLL_MS. No request ever awaits a promise another request settles: on
 * Workers the continuation would run in the other request's I/O context (and a request with
 * nothing of its own pending is cancelled as hung).
 */
export function createBatchedWriteGate(source: SlotSource, deps: { now: () => number; sleep: (ms: number) => Promise<void>; random: () => number }, options: { sendWindowCap?: number } = {}): WriteGate {
  const pool: Record<WriteKind, number[]> = { create: [], delete: [] };
  // The send window (see `send`): writes sent and not answered, and when recent answers came.
  const windowCap = options.sendWindowCap ?? Infinity;
  /** Send times of unanswered writes (a write whose request was cancelled never answers: forgotten). */
  const inFlight = new Set<{ sentAt: number }>();
  const answered: number[] = [];
  /** Deletes waiting for the window right now: a create does not take a place before them. */
  let deletesAtWindow = 0;
  /** 0 when a write may leave now, else how long to wait before looking again. */
  const windowWait = (now: number, kind: WriteKind): number => {
    while (answered.length > 0 && answered[0]! <= now - SEND_WINDOW_MS) answered.shift();
    for (const w of inFlight) if (w.sentAt < now - FORGET_AFTER_MS) inFlight.delete(w);
    if (kind === 'create' && deletesAtWindow > 0) return GATE_POLL_MS;
    if (inFlight.size + answered.length < windowCap) return 0;
    return inFlight.size < windowCap && answered.length > 0 ? Math.max(1, answered[0]! + SEND_WINDOW_MS - now) : GATE_POLL_MS;
  };
  const waiting: Record<WriteKind, number> = { create: 0, delete: 0 };
  /** Until when the current allocate call counts as in flight: a call whose request was cancelled never settles. */
  let inFlightUntil = -Infinity;
  /** Set when a batch came back short: who was waiting for that kind before it is refused. */
  const shortAt: Record<WriteKind, number> = { create: -Infinity, delete: -Infinity };
  let shortRetryMs = 0;

  const take = (kind: WriteKind, now: number): number | null => {
    const p = pool[kind];
    while (p.length > 0 && p[0]! < now - SLOT_STALE_MS) p.shift();
    return p.shift() ?? null;
  };

  async function refill(): Promise<void> {
    const until = deps.now() + REFILL_TIMEOUT_MS;
    inFlightUntil = until;
    try {
      const creates = Math.max(0, waiting.create - pool.create.length);
      const want = { creates, deletes: Math.max(0, waiting.delete - pool.delete.length), ...(creates > 0 ? { spareCreates: SPARE_CREATES_MAX } : {}) };
      let timer: ReturnType<typeof setTimeout> | undefined;
      const call = source.allocate(want, deps.now());
      call.catch(() => undefined); // if the timeout wins, a late failure is not an unhandled rejection
      const grant = await Promise.race([
        call,
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer in ${REFILL_TIMEOUT_MS} ms`)), REFILL_TIMEOUT_MS))),
      ]).finally(() => timer !== undefined && clearTimeout(timer));
      pool.create.push(...grant.creates);
      pool.delete.push(...grant.deletes);
      if (grant.creates.length < want.creates) {
        shortAt.create = deps.now();
        shortRetryMs = grant.busyForMs;
      }
      if (grant.deletes.length < want.deletes) shortAt.delete = deps.now();
    } finally {
      if (inFlightUntil === until) inFlightUntil = -Infinity;
    }
  }

  const admitMax = admissionLimit(windowCap);
  /** When each admitted enrollment came in (one whose request was cancelled never releases: forgotten). */
  const admitted = new Set<{ at: number }>();
  /** When this isolate refused admissions within the last second. */
  const refusedAt: number[] = [];
  const gate: WriteGate = {
    ...(Number.isFinite(windowCap)
      ? {
          admit() {
            const now = deps.now();
            for (const a of admitted) if (a.at < now - ADMIT_LEASE_MS) admitted.delete(a);
            if (admitted.size >= admitMax) {
              // Spread the refused crowd over the time the schedule needs to serve it: a crowd
              // told "1 s" comes back as the same crowd, and every refusal costs the isolate.
              while (refusedAt.length > 0 && refusedAt[0]! <= now - 1000) refusedAt.shift();
              refusedAt.push(now);
              const crowdMs = (1000 * refusedAt.length) / (windowCap * PACE_FRACTION);
              throw new ClusterBusyError(busyRetryAfterSeconds(Math.max(CREATE_HORIZON_MS, crowdMs), deps.random), `write governor: ${admitted.size} enrollments already in flight in this isolate`);
            }
            const entry = { at: now };
            admitted.add(entry);
            return () => void admitted.delete(entry);
          },
        }
      : {}),
    async acquire(kind, acquireOptions) {
      const started = deps.now();
      waiting[kind]++;
      let at: number | null = null;
      try {
        for (let polls = 0; ; polls++) {
          at = take(kind, deps.now());
          if (at !== null) break;
          if (shortAt[kind] >= started) throw new ClusterBusyError(busyRetryAfterSeconds(kind === 'create' ? shortRetryMs : DELETE_HORIZON_MS, deps.random));
          if (polls * GATE_POLL_MS > GATE_WAIT_MAX_MS) throw new ClusterBusyError(busyRetryAfterSeconds(1000, deps.random), 'write governor: no answer in time');
          if (deps.now() >= inFlightUntil) {
            try {
              await refill();
            } catch (err) {
              // The governor itself is unreachable: refuse (nothing is reserved yet) rather than write unpaced.
              throw new ClusterBusyError(busyRetryAfterSeconds(1000, deps.random), `write governor unreachable: ${err instanceof Error ? err.message : String(err)}`);
            }
          } else {
            await deps.sleep(GATE_POLL_MS);
          }
        }
      } finally {
        waiting[kind]--;
      }
      const wait = at - deps.now();
      if (wait > 0 && acquireOptions?.wait !== false) await deps.sleep(wait);
      const slotAt = at;
      return {
        at: slotAt,
        giveBack() {
          const p = pool[kind];
          if (slotAt < deps.now() - SLOT_STALE_MS) return;
          const i = p.findIndex((t) => t > slotAt);
          p.splice(i === -1 ? p.length : i, 0, slotAt);
        },
      };
    },

    /**
     * The pace as the cluster sees it. A slot's time says when a write may leave, but the cluster
     * counts it when it arrives: a starved isolate fires its timers late and holds sent requests in
     * its own event loop, so writes paced 1000/cap apart arrived up to 79 in one second (cap 50).
     * So a write leaves only (1) at or after its slot's time, (2) at most SLOT_LATE_MS after it
     * (else a fresh slot), and (3) while fewer than `sendWindowCap` of this isolate's writes are
     * unanswered or answered within the last SEND_WINDOW_MS. (3) holds whatever the delays: a write
     * arrives between its send and its answer, so any `cap` writes arriving within one second
     * were all in that window when the last of them was sent.
     */
    async send(kind, slot, write) {
      let at = slot.at;
      // A create waits for the window at most CREATE_HORIZON_MS in all (its answer stays under a
      // second, its reservation is not held long), and never while a delete waits: deletes go first.
      const maxWindowWait = kind === 'create' ? CREATE_HORIZON_MS : GATE_WAIT_MAX_MS;
      let waited = 0;
      for (let reslots = 0; ; ) {
        const wait = at - deps.now();
        if (wait > 0) await deps.sleep(wait);
        if (kind === 'delete') deletesAtWindow++;
        try {
          for (let w = windowWait(deps.now(), kind); w > 0; w = windowWait(deps.now(), kind)) {
            if (waited + w > maxWindowWait) throw new ClusterBusyError(busyRetryAfterSeconds(1000, deps.random), 'write governor: send window full');
            waited += w;
            await deps.sleep(w);
          }
        } finally {
          if (kind === 'delete') deletesAtWindow--;
        }
        if (deps.now() - at <= SLOT_LATE_MS) break;
        if (++reslots > LATE_RESLOTS_MAX) throw new ClusterBusyError(busyRetryAfterSeconds(1000, deps.random), 'write governor: every slot came too late (busy isolate)');
        at = (await gate.acquire(kind, { wait: false })).at;
      }
      const entry = { sentAt: deps.now() };
      inFlight.add(entry);
      try {
        return await write();
      } finally {
        if (inFlight.delete(entry)) answered.push(deps.now());
      }
    },
  };
  return gate;
}

/** No governor (tests, tools): every write may go at once. */
export const UNGOVERNED: WriteGate = { acquire: async () => NO_SLOT };
