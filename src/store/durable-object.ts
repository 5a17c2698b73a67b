// Workers adapters over Durable Objects: MachineObject (one per machine id, SQLite-backed) holds
// that machine's state document and its alarm; RateLimitObject counts hits per key. The
// MachineStore/RateLimiter ports forward to them by RPC. The alarm deletes expired and owed tokens.
import { DurableObject } from 'cloudflare:workers';
import { clusterClientFor } from '../compose.ts';
import { parseConfig } from '../config.ts';
import { deleteTokens } from '../enroll/enroll.ts';
import { dueForDeletion, nextAlarmAt, type FleetEvent, type LiveToken, type MachineRegistration, type MachineState, type Proof } from '../enroll/machine-state.ts';
import { AppError } from '../errors.ts';
import { machineCellOps } from './machine-cell.ts';
import type { MachineStore, MachineView, RateLimiter } from './ports.ts';
import { workersWriteGate, type WriteGovernorObject } from './write-governor-object.ts';

const STATE_KEY = 'state';
export const ALARM_RETRY_MS = 30_000;

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
    const at = nextAlarmAt(this.ctx.storage.kv.get<MachineState>(STATE_KEY) ?? null, Date.now(), ALARM_RETRY_MS);
    if (at === null) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(at);
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
  release(reservationId: string) {
    return wrapRpc(() => this.ops().release(reservationId));
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

  /** Deletes every token that expired or is owed a delete; failures retry in ALARM_RETRY_MS. */
  override async alarm(): Promise<void> {
    const state = this.ctx.storage.kv.get<MachineState>(STATE_KEY) ?? null;
    const due = dueForDeletion(state, Date.now());
    if (due.length > 0) {
      const config = parseConfig(this.env);
      const cluster = clusterClientFor(config, (input, init) => fetch(input, init), workersWriteGate((this.env as unknown as StoreEnv).GOVERNOR, config.clusterMaxWritesPerSecond));
      this.ops().confirmDeleted(await deleteTokens(cluster.tokens, due));
    }
    await this.schedule();
  }
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

export function createDurableMachineStore(ns: DurableObjectNamespace<MachineObject>): MachineStore {
  const stub = (id: string) => ns.get(ns.idFromName(id));
  return {
    register: (reg, now) => unwrapRpc(stub(reg.id).register(reg, now)) as never,
    get: (id) => unwrapRpc(stub(id).get()) as never,
    revoke: (id, now) => unwrapRpc(stub(id).revoke(now)) as never,
    reserve: (id, proof, rid, now) => unwrapRpc(stub(id).reserve(proof, rid, now)) as never,
    commit: (id, rid, minted, usedJwt, now) => unwrapRpc(stub(id).commit(rid, minted, usedJwt, now)) as never,
    release: (id, rid) => unwrapRpc(stub(id).release(rid)) as never,
    confirmDeleted: (id, ids) => unwrapRpc(stub(id).confirmDeleted([...ids])) as never,
    fleetEvent: (id, event, now) => unwrapRpc(stub(id).fleetEvent(id, event, now)) as never,
  };
}

export function createDurableRateLimiter(ns: DurableObjectNamespace<RateLimitObject>, limit: number, windowMs: number): RateLimiter {
  return {
    hit: (key, now) => ns.get(ns.idFromName(key)).hit(limit, windowMs, now) as never,
  };
}
