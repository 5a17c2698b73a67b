// D1 adapters: the audit log and the fleet listing (schema in migrations/). The listing is a copy
// of each machine's view; the machine's Durable Object stays the authority.
import type { ChallengeRecord } from '../enroll/machine-state.ts';
import { SIGNATURE_TOLERANCE_SECONDS } from '../http/webhook-signature.ts';
import type { AuditEvent, AuditLog, AuditRecord, ChallengeStore, MachineIndex, MachineView, WebhookEventLog } from './ports.ts';

interface AuditRow {
  seq: number;
  at: number;
  event: string;
  outcome: 'success' | 'failure';
  machine_id: string | null;
  method: string | null;
  code: string | null;
  reason: string | null;
  token_id: string | null;
  request_id: string | null;
  actor: string | null;
  client_ip: string | null;
}

/**
 * Deletes audit records older than `beforeMs`, oldest first, in bounded batches (one cron run does
 * at most maxBatches × batch rows; the next run goes on). Returns how many were deleted, and the
 * error that stopped it, if one did (the batches before it stay deleted and are counted).
 */
export async function pruneD1Audit(db: D1Database, beforeMs: number, limits: { batch?: number; maxBatches?: number } = {}): Promise<{ deleted: number; error: string | null }> {
  return pruneInBatches(db, 'DELETE FROM audit WHERE seq IN (SELECT seq FROM audit WHERE at < ? ORDER BY at LIMIT ?)', beforeMs, limits);
}

/**
 * Forgets fleet webhook event ids claimed before `beforeMs` (migrations/0005), in the same bounded
 * batches. A delivery of a forgotten id is then judged by occurrence order alone: stale if the
 * machine has applied a later event, applied again otherwise.
 */
export async function pruneD1FleetEvents(db: D1Database, beforeMs: number, limits: { batch?: number; maxBatches?: number; now?: number } = {}): Promise<{ deleted: number; error: string | null }> {
  const now = limits.now ?? Date.now();
  try {
    // Ids claimed without a claim time (by a worker older than migration 0005, during a rollout)
    // count as claimed now.
    await db.prepare('UPDATE fleet_events SET claimed_at = ? WHERE claimed_at IS NULL').bind(now).run();
  } catch (err) {
    return { deleted: 0, error: err instanceof Error ? err.message : String(err) };
  }
  // Never an id younger than twice the signature tolerance, whatever the retention: its signed
  // request could still be replayed.
  const cutoff = Math.min(beforeMs, now - 2 * SIGNATURE_TOLERANCE_SECONDS * 1000);
  return pruneInBatches(db, 'DELETE FROM fleet_events WHERE id IN (SELECT id FROM fleet_events WHERE claimed_at < ? ORDER BY claimed_at LIMIT ?)', cutoff, limits);
}

async function pruneInBatches(db: D1Database, sql: string, beforeMs: number, { batch = 5_000, maxBatches = 20 }: { batch?: number; maxBatches?: number }): Promise<{ deleted: number; error: string | null }> {
  let deleted = 0;
  try {
    for (let i = 0; i < maxBatches; i++) {
      const r = await db.prepare(sql).bind(beforeMs, batch).run();
      const n = r.meta.changes ?? 0;
      deleted += n;
      if (n < batch) break;
    }
    return { deleted, error: null };
  } catch (err) {
    return { deleted, error: err instanceof Error ? err.message : String(err) };
  }
}

export function createD1AuditLog(db: D1Database): AuditLog {
  return {
    async append(e: AuditEvent) {
      await db
        .prepare('INSERT INTO audit (at, event, outcome, machine_id, method, code, reason, token_id, request_id, actor, client_ip) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
        .bind(e.at, e.event, e.outcome, e.machineId, e.method, e.code, e.reason?.slice(0, 1000) ?? null, e.tokenId, e.requestId, e.actor, e.clientIp)
        .run();
    },
    async list({ sinceMs, limit }): Promise<AuditRecord[]> {
      const rows = await db.prepare('SELECT * FROM audit WHERE at >= ? ORDER BY seq DESC LIMIT ?').bind(sinceMs ?? 0, limit).all<AuditRow>();
      return rows.results.map((r) => ({
        seq: r.seq,
        at: r.at,
        event: r.event,
        outcome: r.outcome,
        machineId: r.machine_id,
        method: r.method,
        code: r.code,
        reason: r.reason,
        tokenId: r.token_id,
        requestId: r.request_id,
        actor: r.actor,
        clientIp: r.client_ip,
      }));
    },
  };
}

export function createD1MachineIndex(db: D1Database): MachineIndex {
  return {
    async upsert(v: MachineView) {
      await machineUpsert(db, v).run();
    },
    async findByEk(sha) {
      const row = await db.prepare('SELECT id FROM machines WHERE ek_sha256 = ? ORDER BY updated_at DESC LIMIT 1').bind(sha).first<{ id: string }>();
      return row?.id ?? null;
    },
    async list({ limit, after }) {
      const rows = await db.prepare('SELECT view FROM machines WHERE id > ? ORDER BY id LIMIT ?').bind(after ?? '', limit).all<{ view: string }>();
      return rows.results.map((r) => JSON.parse(r.view) as MachineView);
    },
  };
}

/** The listing row for one machine's view, newer views only (one statement, to batch with others). */
export function machineUpsert(db: D1Database, v: MachineView): D1PreparedStatement {
  return db
    .prepare('INSERT INTO machines (id, view, updated_at, ek_sha256) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET view = excluded.view, updated_at = excluded.updated_at, ek_sha256 = excluded.ek_sha256 WHERE excluded.updated_at >= machines.updated_at')
    // The EK stays indexed after a revocation: a revoked machine's TPM never auto-registers anew.
    .bind(v.id, JSON.stringify(v), v.updatedAt, v.ekPublicKeySha256);
}

export function createD1WebhookEventLog(db: D1Database, now: () => number = () => Date.now()): WebhookEventLog {
  return {
    async claim(id, meta) {
      const r = await db.prepare('INSERT INTO fleet_events (id, type, machine_id, occurred_at, claimed_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING').bind(id, meta.type, meta.machineId, meta.at, now()).run();
      return (r.meta.changes ?? 0) > 0;
    },
    async unclaim(id) {
      await db.prepare('DELETE FROM fleet_events WHERE id = ?').bind(id).run();
    },
  };
}

/** Open challenges (migrations/0003): one row per challenge id; expired rows go as new ones arrive. */
export function createD1ChallengeStore(db: D1Database): ChallengeStore {
  return {
    async put(ch: ChallengeRecord) {
      await db.batch([
        db.prepare('DELETE FROM challenges WHERE expires_at <= ?').bind(ch.issuedAt),
        db.prepare('INSERT INTO challenges (id, machine_id, record, expires_at) VALUES (?, ?, ?, ?)').bind(ch.id, ch.machineId, JSON.stringify(ch), ch.expiresAt),
      ]);
    },
    async get(id) {
      const row = await db.prepare('SELECT record FROM challenges WHERE id = ?').bind(id).first<{ record: string }>();
      return row ? (JSON.parse(row.record) as ChallengeRecord) : null;
    },
  };
}
