// Deno KV adapters of every store port, for the Deno entry (`deno run --unstable-kv`): each
// machine's state document is read, changed by the same machine-cell logic the Durable Object
// uses, and written back with an atomic versionstamp check (retried on conflict), so the
// single-use invariants hold across concurrent requests and processes sharing the database.
import { deliverEvent, PUBLISHED_EVENTS, toOutboundEvent, type OutboundEvent } from '../enroll/events.ts';
import type { ChallengeRecord, MachineState } from '../enroll/machine-state.ts';
import { machineCellOps, toView } from './machine-cell.ts';
import type { AuditLog, AuditRecord, ChallengeStore, MachineIndex, MachineStore, MachineView, RateLimiter, WebhookEventLog } from './ports.ts';

const MAX_ATTEMPTS = 20;
type Ops = ReturnType<typeof machineCellOps>;

export function createKvMachineStore(kv: Deno.Kv, onChange?: (view: MachineView) => Promise<void>): MachineStore & { all(): AsyncIterable<MachineState> } {
  async function run<T>(id: string, op: (ops: Ops) => T): Promise<T> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const entry = await kv.get<MachineState>(['machine', id]);
      let pending: { state: MachineState | null } | null = null;
      const ops = machineCellOps({ load: () => entry.value, save: (s) => (pending = { state: s }) });
      let result: T | undefined;
      let error: unknown = null;
      try {
        result = op(ops);
      } catch (err) {
        error = err;
      }
      const write = pending as { state: MachineState | null } | null;
      if (write) {
        const tx = kv.atomic().check(entry);
        const committed = await (write.state === null ? tx.delete(['machine', id]) : tx.set(['machine', id], write.state)).commit();
        if (!committed.ok) continue; // another request changed this machine: apply again on the new state
        if (write.state && onChange) await onChange(toView(write.state)).catch(() => undefined);
      }
      if (error !== null) throw error;
      return result as T;
    }
    throw new Error(`machine ${id}: too much contention`);
  }
  return {
    register: (reg, now) => run(reg.id, (o) => o.register(reg, now)),
    get: (id) => run(id, (o) => o.get()),
    revoke: (id, now) => run(id, (o) => o.revoke(now)),
    reserve: (id, proof, rid, now, key) => run(id, (o) => o.reserve(proof, rid, now, key ?? null)),
    commit: (id, rid, minted, usedJwt, now) => run(id, (o) => o.commit(rid, minted, usedJwt, now)),
    release: (id, rid, owed) => run(id, (o) => o.release(rid, owed)),
    confirmDeleted: (id, ids) => run(id, (o) => o.confirmDeleted(ids)),
    fleetEvent: (id, event, now) => run(id, (o) => o.fleetEvent(id, event, now)),
    join: (id, event, now) => run(id, (o) => o.join(event, now)),
    async *all() {
      for await (const e of kv.list<MachineState>({ prefix: ['machine'] })) yield e.value;
    },
  };
}

export function createKvMachineIndex(kv: Deno.Kv): MachineIndex {
  return {
    async upsert(v) {
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const old = await kv.get<MachineView>(['index', v.id]);
        // Ordering guard: a view older than the one indexed (a slow writer) changes nothing, so a
        // stale write cannot undo a revocation.
        if (old.value && old.value.updatedAt > v.updatedAt) return;
        const tx = kv.atomic().check(old).set(['index', v.id], v);
        const oldEk = old.value?.ekPublicKeySha256 ?? null;
        if (oldEk && oldEk !== v.ekPublicKeySha256) tx.delete(['ek', oldEk]);
        // Revoked machines keep their EK indexed: their TPM never auto-registers under a new id.
        if (v.ekPublicKeySha256) tx.set(['ek', v.ekPublicKeySha256], v.id);
        if ((await tx.commit()).ok) return;
      }
    },
    async findByEk(sha) {
      return (await kv.get<string>(['ek', sha])).value;
    },
    async list({ limit, after }) {
      const out: MachineView[] = [];
      const selector = after ? { start: ['index', `${after}\u0000`], end: ['index', '\uffff'] } : { prefix: ['index'] };
      for await (const e of kv.list<MachineView>(selector, { limit })) out.push(e.value);
      return out;
    },
  };
}

/** Open challenges by id, expiring with the challenge (KV's expireIn, plus a margin). */
export function createKvChallengeStore(kv: Deno.Kv): ChallengeStore {
  return {
    async put(ch: ChallengeRecord) {
      await kv.set(['challenge', ch.id], ch, { expireIn: Math.max(1, ch.expiresAt - ch.issuedAt) + 60_000 });
    },
    async get(id) {
      return (await kv.get<ChallengeRecord>(['challenge', id])).value;
    },
  };
}

/** `retentionMs` > 0: each record expires that long after it happened (AUDIT_RETENTION_DAYS) and is listed no longer. */
export function createKvAuditLog(kv: Deno.Kv, { retentionMs = 0 }: { retentionMs?: number } = {}): AuditLog {
  return {
    async append(e) {
      // Keys sort by time then a random suffix; seq is the time-ordered position in a listing.
      const expireIn = retentionMs > 0 ? Math.max(1, e.at + retentionMs - Date.now()) : undefined;
      await kv.set(['audit', e.at, crypto.randomUUID()], e, expireIn === undefined ? undefined : { expireIn });
    },
    async list({ sinceMs, limit }) {
      const out: AuditRecord[] = [];
      // KV deletes expired records lazily: past the retention they are not listed even while still stored.
      const from = Math.max(sinceMs ?? 0, retentionMs > 0 ? Date.now() - retentionMs : 0);
      for await (const entry of kv.list<AuditRecord>({ start: ['audit', from], end: ['audit', Number.MAX_SAFE_INTEGER] }, { reverse: true, limit })) {
        out.push({ ...entry.value, seq: entry.key[1] as number });
      }
      return out;
    },
  };
}

/**
 * Event ids are forgotten after the audit retention, like the audit records that name them (0
 * keeps them): written with KV's expireIn, and, since KV deletes expired keys lazily, an id
 * claimed longer ago than the retention counts as absent. Ids stored before this carry no claim
 * time and are kept.
 */
export function createKvWebhookEventLog(kv: Deno.Kv, { retentionMs = 0 }: { retentionMs?: number } = {}): WebhookEventLog {
  return {
    async claim(id, meta) {
      const key = ['fleet-event', id];
      const now = Date.now();
      const value = { ...meta, claimedAt: now };
      const options = retentionMs > 0 ? { expireIn: retentionMs } : undefined;
      if ((await kv.atomic().check({ key, versionstamp: null }).set(key, value, options).commit()).ok) return true;
      if (retentionMs <= 0) return false;
      const cur = await kv.get<{ claimedAt?: unknown }>(key);
      const forgotten = cur.versionstamp === null || (typeof cur.value?.claimedAt === 'number' && now - cur.value.claimedAt >= retentionMs);
      if (!forgotten) return false;
      return (await kv.atomic().check({ key, versionstamp: cur.versionstamp }).set(key, value, options).commit()).ok;
    },
    async unclaim(id) {
      await kv.delete(['fleet-event', id]);
    },
  };
}

/** Fixed window per key, atomically counted. */
export function createKvRateLimiter(kv: Deno.Kv, limit: number, windowMs: number): RateLimiter {
  return {
    async hit(key, now) {
      const start = Math.floor(now / windowMs) * windowMs;
      const k = ['rate', key, start];
      for (let i = 0; i < MAX_ATTEMPTS; i++) {
        const e = await kv.get<number>(k);
        const count = (e.value ?? 0) + 1;
        const r = await kv.atomic().check(e).set(k, count, { expireIn: windowMs * 2 }).commit();
        if (!r.ok) continue;
        return count <= limit ? { allowed: true, retryAfterSeconds: 0 } : { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((start + windowMs - now) / 1000)) };
      }
      return { allowed: false, retryAfterSeconds: 1 };
    },
  };
}

/**
 * Outbound events on Deno: published audit events are enqueued in Deno KV; the listener POSTs
 * each (signed); a failure throws so KV redelivers on its backoff schedule, and an event that is
 * never delivered is kept under ["events-undelivered", id].
 */
export function createKvQueuedAuditLog(inner: AuditLog, kv: Deno.Kv, newId: () => string): AuditLog {
  return {
    async append(e) {
      await inner.append(e);
      if (PUBLISHED_EVENTS.has(e.event)) {
        const event = toOutboundEvent(e, newId());
        await kv.enqueue(event, { backoffSchedule: [1000, 2000, 30_000, 120_000, 600_000], keysIfUndelivered: [['events-undelivered', event.id]] });
      }
    },
    list: (q) => inner.list(q),
  };
}

export function listenForEvents(kv: Deno.Kv, target: { url: string; secret: string }, fetchImpl: typeof fetch): Promise<void> {
  return kv.listenQueue(async (event: OutboundEvent) => {
    if (!(await deliverEvent(event, target, fetchImpl, () => new Date()))) throw new Error(`event ${event.id}: delivery failed`);
  });
}
