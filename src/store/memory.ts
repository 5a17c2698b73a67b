// In-memory adapters of every store port: unit tests, and the Deno entry until a Deno KV adapter
// exists. Not durable, not shared between processes.
import type { ChallengeRecord, MachineState } from '../enroll/machine-state.ts';
import { machineCellOps, toView } from './machine-cell.ts';
import type { AuditEvent, AuditLog, AuditRecord, ChallengeStore, MachineIndex, MachineStore, MachineView, RateLimiter, WebhookEventLog } from './ports.ts';

export function createMemoryMachineStore(onChange?: (view: MachineView) => void): MachineStore & { states: Map<string, MachineState> } {
  const states = new Map<string, MachineState>();
  const ops = (id: string) =>
    machineCellOps({
      load: () => states.get(id) ?? null,
      save: (s) => {
        if (s === null) states.delete(id);
        else {
          states.set(id, s);
          onChange?.(toView(s));
        }
      },
    });
  return {
    states,
    register: async (reg, now) => ops(reg.id).register(reg, now),
    get: async (id) => ops(id).get(),
    revoke: async (id, now) => ops(id).revoke(now),
    reserve: async (id, proof, rid, now, key) => ops(id).reserve(proof, rid, now, key ?? null),
    commit: async (id, rid, minted, usedJwt, now) => ops(id).commit(rid, minted, usedJwt, now),
    release: async (id, rid, owed) => ops(id).release(rid, owed),
    confirmDeleted: async (id, ids) => ops(id).confirmDeleted(ids),
    fleetEvent: async (id, event, now) => ops(id).fleetEvent(id, event, now),
    join: async (id, event, now) => ops(id).join(event, now),
  };
}

export function createMemoryAuditLog(): AuditLog & { events: AuditRecord[] } {
  const events: AuditRecord[] = [];
  return {
    events,
    async append(e: AuditEvent) {
      events.push({ ...e, seq: events.length + 1 });
    },
    async list({ sinceMs, limit }) {
      return events.filter((e) => sinceMs === undefined || e.at >= sinceMs).slice(-limit).reverse();
    },
  };
}

export function createMemoryMachineIndex(): MachineIndex {
  const views = new Map<string, MachineView>();
  return {
    async upsert(v) {
      const old = views.get(v.id);
      if (old === undefined || v.updatedAt >= old.updatedAt) views.set(v.id, v);
    },
    async findByEk(sha) {
      // Revoked machines included: their EK must not come back under another id.
      for (const v of views.values()) if (v.ekPublicKeySha256 === sha) return v.id;
      return null;
    },
    async list({ limit, after }) {
      return [...views.values()].sort((a, b) => a.id.localeCompare(b.id)).filter((v) => after === undefined || v.id > after).slice(0, limit);
    },
  };
}

/** Fixed window per key. */
export function createMemoryRateLimiter(limit: number, windowMs: number): RateLimiter {
  const windows = new Map<string, { start: number; count: number }>();
  return {
    async hit(key, now) {
      const w = windows.get(key);
      if (!w || now - w.start >= windowMs) {
        windows.set(key, { start: now, count: 1 });
        return { allowed: true, retryAfterSeconds: 0 };
      }
      w.count++;
      return w.count <= limit ? { allowed: true, retryAfterSeconds: 0 } : { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((w.start + windowMs - now) / 1000)) };
    },
  };
}

export function createMemoryWebhookEventLog(): WebhookEventLog {
  const seen = new Set<string>();
  return {
    async claim(id) {
      if (seen.has(id)) return false;
      seen.add(id);
      return true;
    },
    async unclaim(id) {
      seen.delete(id);
    },
  };
}

/** Open challenges by id; expired ones are dropped as new ones arrive. */
export function createMemoryChallengeStore(): ChallengeStore & { records: Map<string, ChallengeRecord> } {
  const records = new Map<string, ChallengeRecord>();
  return {
    records,
    async put(ch) {
      for (const [id, r] of records) if (r.expiresAt <= ch.issuedAt) records.delete(id);
      records.set(ch.id, ch);
    },
    async get(id) {
      return records.get(id) ?? null;
    },
  };
}
