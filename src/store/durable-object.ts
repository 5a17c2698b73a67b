// Workers adapters over Durable Objects: MachineObject (one per machine id, SQLite-backed) holds
// that machine's state document and its alarm; RateLimitObject counts hits per key. The
// MachineStore/RateLimiter ports forward to them by RPC. `enroll` is the whole enrollment in one
// call; right after its answer the object deletes owed tokens and writes its audit outbox to D1
// (batched with other machines'); the alarm does the same for expired tokens, and is the backstop
// for a crash or a failed write.
import { DurableObject } from 'cloudflare:workers';
import { clusterClientFor } from '../compose.ts';
import { parseConfig } from '../config.ts';
import { deleteTokens } from '../enroll/enroll.ts';
import { dueForDeletion, nextAlarmAt, type FleetEvent, type LiveToken, type MachineRegistration, type Proof, type TokenRef } from '../enroll/machine-state.ts';
import type { JoinEvent } from '../enroll/join-state.ts';
import { auditJoinExpired, resetNodePassword } from '../enroll/join.ts';
import { createD1AuditLog, createD1MachineIndex } from './d1.ts';
import { createQueuedAuditLog, type OutboundEvent } from './queue-events.ts';
import { AppError } from '../errors.ts';
import { enrollInCell, type AtomicCell, type AtomicEnrollInput, type OutboxRecord } from '../enroll/atomic-enroll.ts';
import type { StateWithKey } from '../enroll/idempotency.ts';
import type { ClusterClient } from '../cluster/index.ts';
import type { BootstrapToken } from '../token/index.ts';
import { writeOutboxes } from './d1-outbox.ts';
import { createBatchedCalls, type BatchedCalls } from './batched-calls.ts';
import { machineCellOps, toView } from './machine-cell.ts';
import type { AuditLog, MachineStore, MachineView, RateLimiter } from './ports.ts';
import { workersWriteGate, type WriteGovernorObject } from './write-governor-object.ts';
import type { NodeWatchObject } from './node-watch-object.ts';

const STATE_KEY = 'state';
const OUTBOX_PREFIX = 'outbox:';
export const ALARM_RETRY_MS = 30_000;
/**
 * An enrollment's audit record is written to D1 right after the answer; the alarm, set before
 * the answer leaves and due this soon, is the backstop for a write that failed or a process that
 * died first.
 */
export const OUTBOX_BACKSTOP_MS = 30_000;

export interface StoreEnv {
  MACHINES: DurableObjectNamespace<MachineObject>;
  RATE_LIMITS: DurableObjectNamespace<RateLimitObject>;
  GOVERNOR: DurableObjectNamespace<WriteGovernorObject>;
  [k: string]: unknown;
}

/** AppErrors cross RPC as data (a thrown error would be logged by workerd as uncaught). */
type RpcResult<T> = { ok: true; value: T } | { ok: false; error: { code: AppError['code']; message: string; reason: string; retryAfterSeconds?: number } };
function wrapRpc<T>(fn: () => T): RpcResult<T> {
  try {
    return { ok: true, value: fn() };
  } catch (err) {
    if (err instanceof AppError) return { ok: false, error: { code: err.code, message: err.message, reason: err.reason, ...(err.retryAfterSeconds !== undefined ? { retryAfterSeconds: err.retryAfterSeconds } : {}) } };
    throw err;
  }
}
async function unwrapRpc<T>(p: Promise<RpcResult<T>> | RpcResult<T>): Promise<T> {
  const r = await p;
  if (r.ok) return r.value;
  const e = r.error;
  throw new AppError(e.code, e.message, { reason: e.reason, ...(e.retryAfterSeconds !== undefined ? { retryAfterSeconds: e.retryAfterSeconds } : {}) });
}

const clusterClients = new Map<string, ClusterClient>();

/**
 * The isolate's cluster client for this environment (one per isolate, not per object or request:
 * one parsed config, one known cluster clock), every Secret write paced by the write governor.
 */
export function workersClusterClient(env: Record<string, unknown>): ClusterClient {
  const key = `${String(env.CLUSTER_API_URL)}|${String(env.CLUSTER_SA_TOKEN)}|${String(env.CLUSTER_MAX_WRITES_PER_SECOND)}|${String(env.CLUSTER_CA_PEM ?? env.CLUSTER_CA_HASH)}`;
  let c = clusterClients.get(key);
  if (!c) {
    const config = parseConfig(env);
    c = clusterClientFor(config, (input, init) => fetch(input, init), workersWriteGate((env as unknown as StoreEnv).GOVERNOR, config.clusterMaxWritesPerSecond));
    clusterClients.set(key, c);
  }
  return c;
}

const fleetIds = new WeakMap<object, DurableObjectId>();
/** The fleet watcher's id, derived once per isolate (idFromName hashes). */
function fleetWatcherId(ns: DurableObjectNamespace<NodeWatchObject>): DurableObjectId {
  let id = fleetIds.get(ns);
  if (!id) fleetIds.set(ns, (id = ns.idFromName('fleet')));
  return id;
}

const outboxWriters = new WeakMap<D1Database, Map<unknown, BatchedCalls<readonly OutboxRecord[]>>>();
/** Machine outboxes per D1 batch (each holds one or two records; one listing upsert per machine). */
export const OUTBOX_BATCH_MAX = 25;
/** How long a flush waits for other machines' outboxes to share its D1 batch (and how often a machine waiting on another's batch looks again). */
export const OUTBOX_LINGER_MS = 50;
/**
 * The isolate's D1 writer for machine outboxes: the outboxes of machines flushing together go in
 * one D1 batch (one round trip, one transaction) instead of one each. If that batch fails, each
 * outbox is written on its own, so one bad record fails only its machine. A record leaves its
 * object's outbox only after a write holding it succeeded.
 */
function outboxWriter(db: D1Database, queue: Queue<OutboundEvent> | null): BatchedCalls<readonly OutboxRecord[]> {
  let byQueue = outboxWriters.get(db);
  if (!byQueue) outboxWriters.set(db, (byQueue = new Map()));
  let w = byQueue.get(queue);
  if (!w) byQueue.set(queue, (w = createBatchedCalls<readonly OutboxRecord[]>((outboxes) => writeOutboxes(db, outboxes, queue), { maxBatch: OUTBOX_BATCH_MAX, lingerMs: OUTBOX_LINGER_MS })));
  return w;
}

export class MachineObject extends DurableObject<Record<string, unknown>> {
  /**
   * The state document as last loaded or saved within the current call: an enrollment loads its
   * state six times, and each load is a storage read plus a deserialization. Every call starts
   * from storage (fresh()), so a write made beside this object's methods is never missed; saved
   * values are never mutated (the state functions copy), so the cached one is what storage holds.
   */
  private cached: { state: StateWithKey | null } | null = null;
  /** Outbox records pending, at least (null: unknown, list storage). */
  private outboxSize: number | null = null;
  /** Records ever added by this instance: a flush that saw none added meanwhile knows the outbox is empty. */
  private outboxAdds = 0;

  /** Forget what is cached: the start of every call and alarm. */
  private fresh(): void {
    this.cached = null;
    this.outboxSize = null;
  }

  private loadState(): StateWithKey | null {
    this.cached ??= { state: this.ctx.storage.kv.get<StateWithKey>(STATE_KEY) ?? null };
    return this.cached.state;
  }

  private saveState(s: StateWithKey | null): void {
    this.cached = null; // if the write throws, the next load reads storage
    if (s === null) this.ctx.storage.kv.delete(STATE_KEY);
    else this.ctx.storage.kv.put(STATE_KEY, s);
    this.cached = { state: s };
  }

  private addToOutbox(r: OutboxRecord): void {
    this.ctx.storage.kv.put(`${OUTBOX_PREFIX}${r.id}`, r);
    this.outboxAdds++;
    this.outboxSize = (this.outboxSize ?? 0) + 1; // a lower bound: only "any pending?" is asked of it
  }

  private ops() {
    return machineCellOps({ load: () => this.loadState(), save: (s) => this.saveState(s) });
  }

  private async schedule(): Promise<void> {
    let at = nextAlarmAt(this.loadState(), Date.now(), ALARM_RETRY_MS);
    if (this.pendingOutbox() > 0) at = Math.min(at ?? Infinity, Date.now() + OUTBOX_BACKSTOP_MS);
    if (at === null) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(at);
  }

  private pendingOutbox(): number {
    this.outboxSize ??= this.outbox().length;
    return this.outboxSize;
  }

  private outbox(): Array<[string, OutboxRecord]> {
    return [...this.ctx.storage.kv.list<OutboxRecord>({ prefix: OUTBOX_PREFIX })];
  }

  private cluster(): ClusterClient {
    return workersClusterClient(this.env);
  }

  /**
   * The join watch's part of an enrollment, started with the create and done before the answer,
   * from this object (no second round trip from the worker): the fleet watcher learns the name
   * before the token exists (DO→DO, hidden behind the create), and the node-password Secret is
   * looked up alongside; after the commit it is deleted (paced) only if there is one.
   */
  private joinWatchAlongside(input: AtomicEnrollInput, cluster: ClusterClient) {
    return (ttlSeconds: number | null) => {
      const watchNs = (this.env as { NODE_WATCH?: DurableObjectNamespace<NodeWatchObject> }).NODE_WATCH;
      const until = ttlSeconds === null ? null : Date.now() + ttlSeconds * 1000;
      const watch = watchNs ? watchNs.get(fleetWatcherId(watchNs)).expect(input.machineId, until).catch(() => undefined) : Promise.resolve();
      const lookup = cluster.nodes.getNodePassword(input.machineId);
      lookup.catch(() => undefined); // awaited below; a failure is audited there
      return async (committed: boolean) => {
        await watch;
        if (!committed) {
          await lookup.catch(() => undefined);
          return;
        }
        // Server-chosen record id (the reservation's), like the enrollment's own record.
        const audit: AuditLog = { append: async (e) => this.addToOutbox({ id: `${input.reservationId}:${e.event}`, audit: e, view: null }), list: async () => [] };
        await resetNodePassword(input.machineId, { cluster, audit, now: () => new Date() }, input.requestId, lookup);
      };
    };
  }

  /**
   * The whole enrollment in one call: would the proof hold → a write slot → reserve → mint →
   * commit, the outcome's audit record saved in this object's outbox with the state (flushed by
   * the alarm), owed deletes left to the alarm. The token crosses back to the worker by RPC only.
   */
  async enroll(input: AtomicEnrollInput): Promise<RpcResult<{ token: BootstrapToken; uid: string; expiresAt: number | null; mintedAt: number }>> {
    this.fresh();
    const cell: AtomicCell = {
      load: () => this.loadState(),
      save: (st) => this.saveState(st),
      outbox: (r) => this.addToOutbox(r),
      flush: () => this.ctx.storage.sync(),
      view: (st) => toView(st),
    };
    try {
      const cluster = this.cluster();
      const { minted, mintedAt } = await enrollInCell(cell, input, { tokens: cluster.tokens, gate: cluster.gate, now: () => Date.now(), alongside: this.joinWatchAlongside(input, cluster) });
      return { ok: true, value: { token: minted.token, uid: minted.uid, expiresAt: minted.expiresAt?.getTime() ?? null, mintedAt } };
    } catch (err) {
      if (err instanceof AppError) return { ok: false, error: { code: err.code, message: err.message, reason: err.reason, ...(err.retryAfterSeconds !== undefined ? { retryAfterSeconds: err.retryAfterSeconds } : {}) } };
      throw err;
    } finally {
      // The alarm (the backstop) is set before the answer leaves; owed deletes of known tokens (a
      // replaced one) and the audit record follow right after the answer, and the alarm then
      // moves back to the token's expiry.
      await this.schedule();
      // (A Durable Object stays alive while it has work pending; waitUntil only says so.)
      if (this.pendingOutbox() > 0 || (this.loadState()?.pendingDeletes.some((t) => t.uid !== '') ?? false)) this.ctx.waitUntil(this.housekeeping('after-answer'));
    }
  }

  async register(reg: MachineRegistration, now: number) {
    this.fresh();
    const r = wrapRpc(() => this.ops().register(reg, now));
    await this.schedule();
    return r;
  }
  get() {
    this.fresh();
    return wrapRpc(() => this.ops().get());
  }
  async revoke(now: number) {
    this.fresh();
    const r = wrapRpc(() => this.ops().revoke(now));
    await this.schedule();
    return r;
  }
  reserve(proof: Proof, reservationId: string, now: number, keySha256: string | null = null) {
    this.fresh();
    return wrapRpc(() => this.ops().reserve(proof, reservationId, now, keySha256));
  }
  async commit(reservationId: string, minted: LiveToken, usedJwt: { jtiSha256: string; exp: number } | null, now: number) {
    this.fresh();
    try {
      return wrapRpc(() => this.ops().commit(reservationId, minted, usedJwt, now));
    } finally {
      await this.schedule();
    }
  }
  async release(reservationId: string, owed: TokenRef | readonly TokenRef[] | null = null) {
    this.fresh();
    const r = wrapRpc(() => this.ops().release(reservationId, owed));
    if (owed) await this.schedule();
    return r;
  }
  async confirmDeleted(ids: string[]) {
    this.fresh();
    const r = wrapRpc(() => this.ops().confirmDeleted(ids));
    await this.schedule();
    return r;
  }

  async fleetEvent(id: string, event: FleetEvent, now: number) {
    this.fresh();
    const r = wrapRpc(() => this.ops().fleetEvent(id, event, now));
    await this.schedule();
    return r;
  }

  async join(event: JoinEvent, now: number) {
    this.fresh();
    const r = wrapRpc(() => this.ops().join(event, now));
    await this.schedule();
    return r;
  }

  /** Deletes every token that expired or is owed a delete; failures retry in ALARM_RETRY_MS. */
  override async alarm(): Promise<void> {
    this.fresh();
    await this.housekeeping('alarm');
  }

  private housekeepingRun: Promise<void> | null = null;
  private housekeepingNext: 'alarm' | 'after-answer' | null = null;

  /**
   * Expiry, deletes, the outbox and the next alarm: run by the alarm and right after an
   * enrollment's answer. One run at a time per object (concurrent runs would send the same deletes
   * and records twice); asked again while one runs, it runs once more after it.
   */
  private housekeeping(kind: 'alarm' | 'after-answer'): Promise<void> {
    if (this.housekeepingRun) {
      if (this.housekeepingNext !== 'alarm') this.housekeepingNext = kind;
      return this.housekeepingRun; // settles after the extra round this asked for
    }
    const run = async () => {
      let next: 'alarm' | 'after-answer' | null = kind;
      try {
        while (next !== null) {
          this.housekeepingNext = null;
          await this.housekeepOnce(next);
          next = this.housekeepingNext;
        }
      } finally {
        this.housekeepingRun = null;
        this.housekeepingNext = null;
      }
    };
    this.housekeepingRun = run();
    return this.housekeepingRun;
  }

  private async housekeepOnce(kind: 'alarm' | 'after-answer'): Promise<void> {
    // A token that expires unjoined makes the machine join_expired (before the delete below
    // clears it: the outcome is about that token).
    const expiry = this.ops().join({ type: 'expire' }, Date.now());
    if (expiry.expired && expiry.machine) {
      const audit = workersAuditLog(this.env, parseConfig(this.env));
      await auditJoinExpired({ audit, now: () => new Date() }, expiry.machine.id, expiry.tokenId);
      await createD1MachineIndex(this.env.DB as D1Database).upsert(expiry.machine).catch(() => undefined);
    }
    let due = dueForDeletion(this.loadState(), Date.now());
    // Right after an answer, a create sent without a definite answer (no uid) may still land: its
    // delete is left to the alarm, ALARM_RETRY_MS later, so a late create is not missed.
    if (kind === 'after-answer') due = due.filter((t) => t.uid !== '');
    if (due.length > 0) this.ops().confirmDeleted(await deleteTokens(this.cluster().tokens, due));
    await this.flushOutbox().catch((err: unknown) => console.error(JSON.stringify({ level: 'error', event: 'outbox.flush_failed', error: err instanceof Error ? err.message : String(err) })));
    await this.schedule();
  }

  /**
   * Audit records (and the listing view) to D1, in one batch with other machines' outboxes; a
   * record leaves the outbox only once written.
   */
  private async flushOutbox(): Promise<void> {
    const pending = this.outbox();
    const addsBefore = this.outboxAdds;
    if (pending.length === 0) return;
    const env = this.env as unknown as { DB: D1Database; EVENTS?: Queue<OutboundEvent> };
    const eventsOn = typeof this.env.EVENTS_WEBHOOK_URL === 'string' && this.env.EVENTS_WEBHOOK_URL !== '';
    const writer = outboxWriter(env.DB, eventsOn && env.EVENTS ? env.EVENTS : null);
    const { ticket, sending } = writer.submit(pending.map(([, r]) => r));
    await sending;
    await writer.wait(ticket, OUTBOX_LINGER_MS);
    for (const [k] of pending) this.ctx.storage.kv.delete(k);
    this.outboxSize = this.outboxAdds === addsBefore ? 0 : null;
  }
}

/** The audit log as the Workers entry builds it: D1, plus the events Queue when configured. */
export function workersAuditLog(env: Record<string, unknown>, cfg: { eventsWebhookUrl: string | null }): AuditLog {
  const d1 = createD1AuditLog(env.DB as D1Database);
  const events = env.EVENTS as Queue<OutboundEvent> | undefined;
  return cfg.eventsWebhookUrl && events ? createQueuedAuditLog(d1, events, () => crypto.randomUUID()) : d1;
}

export class RateLimitObject extends DurableObject<Record<string, unknown>> {
  /** Fixed window counter; state lives in memory + storage so an eviction does not reset it. */
  hit(limit: number, windowMs: number, now: number): { allowed: boolean; retryAfterSeconds: number } {
    const kv = this.ctx.storage.kv;
    const w = kv.get<{ start: number; count: number }>('w');
    if (!w || now - w.start >= windowMs) {
      kv.put('w', { start: now, count: 1 });
      return { allowed: true, retryAfterSeconds: 0 };
    }
    const count = w.count + 1;
    if (w.count <= limit) kv.put('w', { start: w.start, count }); // once over the limit, nothing more is written
    return count <= limit ? { allowed: true, retryAfterSeconds: 0 } : { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((w.start + windowMs - now) / 1000)) };
  }
}

/** The single-round-trip enrollment (EnrollDeps.atomic) over the machine's object. */
export function createDurableAtomicEnroll(ns: DurableObjectNamespace<MachineObject>) {
  return (input: AtomicEnrollInput) => unwrapRpc(ns.get(ns.idFromName(input.machineId)).enroll(input) as never) as Promise<{ token: BootstrapToken; uid: string; expiresAt: number | null; mintedAt: number }>;
}

export function createDurableMachineStore(ns: DurableObjectNamespace<MachineObject>): MachineStore {
  const stub = (id: string) => ns.get(ns.idFromName(id));
  return {
    register: (reg, now) => unwrapRpc(stub(reg.id).register(reg, now)) as never,
    get: (id) => unwrapRpc(stub(id).get()) as never,
    revoke: (id, now) => unwrapRpc(stub(id).revoke(now)) as never,
    reserve: (id, proof, rid, now, key) => unwrapRpc(stub(id).reserve(proof, rid, now, key ?? null)) as never,
    commit: (id, rid, minted, usedJwt, now) => unwrapRpc(stub(id).commit(rid, minted, usedJwt, now)) as never,
    release: (id, rid, owed) => unwrapRpc(stub(id).release(rid, owed ?? null)) as never,
    confirmDeleted: (id, ids) => unwrapRpc(stub(id).confirmDeleted([...ids])) as never,
    fleetEvent: (id, event, now) => unwrapRpc(stub(id).fleetEvent(id, event, now)) as never,
    join: (id, event, now) => unwrapRpc(stub(id).join(event, now)) as never,
  };
}

export function createDurableRateLimiter(ns: DurableObjectNamespace<RateLimitObject>, limit: number, windowMs: number): RateLimiter {
  return {
    hit: (key, now) => ns.get(ns.idFromName(key)).hit(limit, windowMs, now) as never,
  };
}
