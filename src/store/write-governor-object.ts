// Workers side of the cluster write governor: one Durable Object ("cluster") owns the schedule
// of write slots for the whole service; each isolate asks it for slots in batches through
// createBatchedWriteGate, so a burst costs about one round trip per batch, not per write.
import { DurableObject } from 'cloudflare:workers';
import { allocateSlots, createBatchedWriteGate, type GovernorSchedule, type SlotGrant, type SlotRequest, type WriteGate } from '../cluster/index.ts';

const SCHEDULE_KEY = 'schedule';
const PERSIST_AHEAD_MS = 100;

export class WriteGovernorObject extends DurableObject<Record<string, unknown>> {
  private schedule: GovernorSchedule | null = null;

  /** Books slots for one batch; the schedule is kept in storage so an eviction cannot reset the pace. */
  allocate(req: SlotRequest, cap: number): SlotGrant {
    const kv = this.ctx.storage.kv;
    this.schedule ??= kv.get<GovernorSchedule>(SCHEDULE_KEY) ?? null;
    const count = (n: unknown) => (typeof n === 'number' && n > 0 ? Math.floor(n) : 0);
    const r = allocateSlots(this.schedule, { creates: count(req.creates), deletes: count(req.deletes), spareCreates: count(req.spareCreates) }, Date.now(), cap);
    this.schedule = r.schedule;
    // Stored only when it books ahead more than a restart could take: a schedule that is free
    // again within PERSIST_AHEAD_MS loses nothing if it is forgotten (and each write would cost a
    // storage commit the grant waits for, once per batch).
    if (r.schedule.nextFreeMs > Date.now() + PERSIST_AHEAD_MS) kv.put(SCHEDULE_KEY, r.schedule);
    return r.grant;
  }
}

const gates = new WeakMap<object, Map<number, WriteGate>>();

/** The isolate's gate for this namespace and cap (one batching queue per isolate). */
export function workersWriteGate(ns: DurableObjectNamespace<WriteGovernorObject>, cap: number): WriteGate {
  let byCap = gates.get(ns);
  if (!byCap) gates.set(ns, (byCap = new Map()));
  let gate = byCap.get(cap);
  if (!gate) {
    let id: DurableObjectId | null = null;
    const stub = () => ns.get((id ??= ns.idFromName('cluster')));
    gate = createBatchedWriteGate(
      { allocate: async (req) => (await stub().allocate(req, cap)) as SlotGrant },
      { now: () => Date.now(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)), random: () => Math.random() },
      { sendWindowCap: cap },
    );
    byCap.set(cap, gate);
  }
  return gate;
}
