// Workers adapters over Durable Objects: MachineObject (one per machine id, SQLite-backed) holds
// that machine's state document and its alarm; RateLimitObject counts hits per key. The
// MachineStore/RateLimiter ports forward to them by RPC. The alarm deletes expired and owed tokens
// and flushes the machine's audit outbox to D1. `enroll` is the whole enrollment in one call.
import { DurableObject } from 'cloudflare:workers';
import { clusterClientFor } from '../compose.ts';
import { parseConfig } from '../config.ts';
import { deleteTokens } from '../enroll/enroll.ts';
import { dueForDeletion, nextAlarmAt, type FleetEvent, type LiveToken, type MachineRegistration, type MachineState, type Proof, type TokenRef } from '../enroll/machine-state.ts';
import type { JoinEvent } from '../enroll/join-state.ts';
import { auditJoinExpired } from '../enroll/join.ts';
import { createD1AuditLog, createD1MachineIndex } from './d1.ts';
import { createQueuedAuditLog, type OutboundEvent } from './queue-events.ts';
import { AppError } from '../errors.ts';
import { enrollInCell, type AtomicCell, type AtomicEnrollInput, type OutboxRecord } from '../enroll/atomic-enroll.ts';
import type { StateWithKey } from '../enroll/idempotency.ts';
import type { ClusterClient } from '../cluster/index.ts';
import type { BootstrapToken } from '../token/index.ts';
import { writeOutbox } from './d1-outbox.ts';
import { machineCellOps, toView } from './machine-cell.ts';
import type { AuditLog, MachineStore, MachineView, RateLimiter } from './ports.ts';
import { workersWriteGate, type WriteGovernorObject } from './write-governor-object.ts';

const STATE_KEY = 'state';
const OUTBOX_PREFIX = 'outbox:';
export const ALARM_RETRY_MS = 30_000;
/** How soon after an enrollment its audit record and owed deletes are flushed by the alarm. */
export const OUTBOX_FLUSH_MS = 250;

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

export class MachineObject extends DurableObject<Record<string, unknown>> {
  private ops() {
    const storage = this.ctx.storage;
    return machineCellOps({
      load: () => (storage.kv.get<MachineState>(STATE_KEY) ?? null),
      save: (s) => {
        if (s === null) storage.kv.delete(STATE_KEY);
        else storage.kv.put(STATE_KEY, s);
      },
    });
  }

  private async schedule(): Promise<void> {
    let at = nextAlarmAt(this.ctx.storage.kv.get<MachineState>(STATE_KEY) ?? null, Date.now(), ALARM_RETRY_MS);
    if (this.outbox().length > 0) at = Math.min(at ?? Infinity, Date.now() + OUTBOX_FLUSH_MS);
    if (at === null) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(at);
  }

  private outbox(): Array<[string, OutboxRecord]> {
    return [...this.ctx.storage.kv.list<OutboxRecord>({ prefix: OUTBOX_PREFIX })];
  }

  /** One cluster client per isolate (not per machine): one parsed config, one known cluster clock. */
  private cluster(): ClusterClient {
    const e = this.env as Record<string, unknown>;
    const key = `${String(e.CLUSTER_API_URL)}|${String(e.CLUSTER_SA_TOKEN)}|${String(e.CLUSTER_MAX_WRITES_PER_SECOND)}|${String(e.CLUSTER_CA_PEM ?? e.CLUSTER_CA_HASH)}`;
    let c = clusterClients.get(key);
    if (!c) {
      const config = parseConfig(this.env);
      c = clusterClientFor(config, (input, init) => fetch(input, init), workersWriteGate((this.env as unknown as StoreEnv).GOVERNOR, config.clusterMaxWritesPerSecond));
      clusterClients.set(key, c);
    }
    return c;
  }

  /**
   * The whole enrollment in one call: would the proof hold → a write slot → reserve → mint →
   * commit, the outcome's audit record saved in this object's outbox with the state (flushed by
   * the alarm), owed deletes left to the alarm. The token crosses back to the worker by RPC only.
   */
  async enroll(input: AtomicEnrollInput): Promise<RpcResult<{ token: BootstrapToken; uid: string; expiresAt: number | null; mintedAt: number }>> {
    const kv = this.ctx.storage.kv;
    const cell: AtomicCell = {
      load: () => kv.get<StateWithKey>(STATE_KEY) ?? null,
      save: (st) => (st === null ? kv.delete(STATE_KEY) : kv.put(STATE_KEY, st)),
      outbox: (r) => kv.put(`${OUTBOX_PREFIX}${r.id}`, r),
      flush: () => this.ctx.storage.sync(),
      view: (st) => toView(st),
    };
    try {
      const { minted, mintedAt } = await enrollInCell(cell, input, { tokens: this.cluster().tokens, gate: this.cluster().gate, now: () => Date.now() });
      return { ok: true, value: { token: minted.token, uid: minted.uid, expiresAt: minted.expiresAt?.getTime() ?? null, mintedAt } };
    } catch (err) {
      if (err instanceof AppError) return { ok: false, error: { code: err.code, message: err.message, reason: err.reason, ...(err.retryAfterSeconds !== undefined ? { retryAfterSeconds: err.retryAfterSeconds } : {}) } };
      throw err;
    } finally {
      await this.schedule();
    }
  }

  async register(reg: MachineRegistration, now: number) {
    const r = wrapRpc(() => this.ops().register(reg, now));
    await this.schedule();
    return r;
  }
  get() {
    return wrapRpc(() => this.ops().get());
  }
  async revoke(now: number) {
    const r = wrapRpc(() => this.ops().revoke(now));
    await this.schedule();
    return r;
  }
  reserve(proof: Proof, reservationId: string, now: number) {
    return wrapRpc(() => this.ops().reserve(proof, reservationId, now));
  }
  async commit(reservationId: string, minted: LiveToken, usedJwt: { jtiSha256: string; exp: number } | null, now: number) {
    try {
      return wrapRpc(() => this.ops().commit(reservationId, minted, usedJwt, now));
    } finally {
      await this.schedule();
    }
  }
  async release(reservationId: string, owed: TokenRef | readonly TokenRef[] | null = null) {
    const r = wrapRpc(() => this.ops().release(reservationId, owed));
    if (owed) await this.schedule();
    return r;
  }
  async confirmDeleted(ids: string[]) {
    const r = wrapRpc(() => this.ops().confirmDeleted(ids));
    await this.schedule();
    return r;
  }

  async fleetEvent(id: string, event: FleetEvent, now: number) {
    const r = wrapRpc(() => this.ops().fleetEvent(id, event, now));
    await this.schedule();
    return r;
  }

  async join(event: JoinEvent, now: number) {
    const r = wrapRpc(() => this.ops().join(event, now));
    await this.schedule();
    return r;
  }

  /** Deletes every token that expired or is owed a delete; failures retry in ALARM_RETRY_MS. */
  override async alarm(): Promise<void> {
    // A token that expires unjoined makes the machine join_expired (before the delete below
    // clears it: the outcome is about that token).
    const expiry = this.ops().join({ type: 'expire' }, Date.now());
    if (expiry.expired && expiry.machine) {
      const audit = workersAuditLog(this.env, parseConfig(this.env));
      await auditJoinExpired({ audit, now: () => new Date() }, expiry.machine.id, expiry.tokenId);
      await createD1MachineIndex(this.env.DB as D1Database).upsert(expiry.machine).catch(() => undefined);
    }
    const state = this.ctx.storage.kv.get<MachineState>(STATE_KEY) ?? null;
    const due = dueForDeletion(state, Date.now());
    if (due.length > 0) this.ops().confirmDeleted(await deleteTokens(this.cluster().tokens, due));
    await this.flushOutbox().catch((err: unknown) => console.error(JSON.stringify({ level: 'error', event: 'outbox.flush_failed', error: err instanceof Error ? err.message : String(err) })));
    await this.schedule();
  }

  /** Audit records (and the listing view) to D1; a record leaves the outbox only once written. */
  private async flushOutbox(): Promise<void> {
    const pending = this.outbox();
    if (pending.length === 0) return;
    const env = this.env as unknown as { DB: D1Database; EVENTS?: Queue<OutboundEvent> };
    const eventsOn = typeof this.env.EVENTS_WEBHOOK_URL === 'string' && this.env.EVENTS_WEBHOOK_URL !== '';
    await writeOutbox(env.DB, pending.map(([, r]) => r), eventsOn && env.EVENTS ? env.EVENTS : null, () => crypto.randomUUID());
    for (const [k] of pending) this.ctx.storage.kv.delete(k);
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
    kv.put('w', { start: w.start, count });
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
    reserve: (id, proof, rid, now) => unwrapRpc(stub(id).reserve(proof, rid, now)) as never,
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
