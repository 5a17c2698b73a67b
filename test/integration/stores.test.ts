// The D1 adapters in workerd, on the real migrations: the EK index keeps revoked machines (their TPM
// never auto-registers anew), the listing ignores stale writes, challenges are found by opaque id.
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { createD1AuditLog, createD1ChallengeStore, createD1MachineIndex, createD1WebhookEventLog, pruneD1Audit, pruneD1FleetEvents } from '../../src/store/d1.ts';
import { writeOutbox, writeOutboxes } from '../../src/store/d1-outbox.ts';
import type { MachineView } from '../../src/store/ports.ts';

const view = (over: Partial<MachineView> = {}): MachineView => ({
  id: 'ek-machine',
  groups: null,
  labels: {},
  tokenTtlSeconds: null,
  hasEnrollmentCode: false,
  enrollmentCodeUsed: false,
  enrollmentCodeExpiresAt: null,
  jwtSubject: null,
  ekPublicKeySha256: 'e'.repeat(64),
  certificateSha256: null,
  revokedAt: null,
  createdAt: 1,
  updatedAt: 1,
  liveToken: null,
  lastEnrolledAt: null,
  state: 'registered',
  node: null,
  ...over,
});

describe('D1 machine index', () => {
  it('a revoked machine keeps its EK in the index', async () => {
    const index = createD1MachineIndex(env.DB);
    await index.upsert(view({ id: 'ek-revoked', ekPublicKeySha256: '1'.repeat(64) }));
    await index.upsert(view({ id: 'ek-revoked', ekPublicKeySha256: '1'.repeat(64), revokedAt: 2, updatedAt: 2 }));
    expect(await index.findByEk('1'.repeat(64))).toBe('ek-revoked');
  });

  it('migration 0003 restores the EK of machines revoked under the old rule', async () => {
    // As the old code wrote a revoked machine: ek_sha256 NULL, the EK only in the view.
    await env.DB.prepare('INSERT INTO machines (id, view, updated_at, ek_sha256) VALUES (?, ?, ?, NULL)').bind('ek-legacy', JSON.stringify(view({ id: 'ek-legacy', ekPublicKeySha256: '2'.repeat(64), revokedAt: 3 })), 3).run();
    const index = createD1MachineIndex(env.DB);
    expect(await index.findByEk('2'.repeat(64))).toBeNull();
    const update = env.TEST_MIGRATIONS.find((m) => m.name.startsWith('0003'))!.queries.find((q) => q.includes('UPDATE machines'))!;
    await env.DB.prepare(update).run();
    expect(await index.findByEk('2'.repeat(64))).toBe('ek-legacy');
  });

  it('a stale write does not undo a revocation', async () => {
    const index = createD1MachineIndex(env.DB);
    await index.upsert(view({ id: 'ek-stale', revokedAt: 5, updatedAt: 5 }));
    await index.upsert(view({ id: 'ek-stale', revokedAt: null, updatedAt: 4 }));
    expect((await index.list({ limit: 1000 })).find((v) => v.id === 'ek-stale')?.revokedAt).toBe(5);
  });
});

describe('D1 challenge store', () => {
  it('finds a challenge by its id and drops expired ones as new ones arrive', async () => {
    const store = createD1ChallengeStore(env.DB);
    const ch = { id: crypto.randomUUID(), machineId: 'edge-1', kind: 'tpm' as const, secretSha256: 'f'.repeat(64), ekSha256: 'e'.repeat(64), akName: '000b', quoteRequired: false, issuedAt: 1_000, expiresAt: 2_000 };
    await store.put(ch);
    expect(await store.get(ch.id)).toEqual(ch);
    expect(await store.get(crypto.randomUUID())).toBeNull();
    await store.put({ ...ch, id: crypto.randomUUID(), issuedAt: 2_000, expiresAt: 3_000 });
    expect(await store.get(ch.id)).toBeNull();
  });
});

describe('D1 audit retention (AUDIT_RETENTION_DAYS)', () => {
  it('deletes only records older than the cut-off, oldest first, in bounded batches', async () => {
    const audit = createD1AuditLog(env.DB);
    const rec = (at: number) => ({ at, event: 'enroll', outcome: 'success' as const, machineId: 'm', method: 'code', code: null, reason: null, tokenId: null, requestId: null, actor: null, clientIp: null });
    for (const at of [10, 20, 30, 40, 50, 1_000, 2_000]) await audit.append(rec(at));
    // Batches of 2, at most 2 batches: 4 of the 5 old records this run, the last one the next run.
    expect(await pruneD1Audit(env.DB, 100, { batch: 2, maxBatches: 2 })).toEqual({ deleted: 4, error: null });
    expect((await audit.list({ limit: 100 })).map((r) => r.at).sort((a, b) => a - b)).toEqual([50, 1_000, 2_000]);
    expect(await pruneD1Audit(env.DB, 100, { batch: 2, maxBatches: 2 })).toEqual({ deleted: 1, error: null });
    expect(await pruneD1Audit(env.DB, 100)).toEqual({ deleted: 0, error: null });
    expect((await audit.list({ limit: 100 })).map((r) => r.at).sort((a, b) => a - b)).toEqual([1_000, 2_000]);
  });
});

describe('D1 audit retention when a batch fails', () => {
  it('a failing batch stops the prune; the rows deleted before it are reported with the error', async () => {
    const failingOn = (batchNo: number) => {
      let calls = 0;
      const run = async () => {
        if (++calls === batchNo) throw new Error('D1_ERROR: storage reset');
        return { meta: { changes: 2 } };
      };
      return { prepare: () => ({ bind: () => ({ run }) }) } as unknown as D1Database;
    };
    expect(await pruneD1Audit(failingOn(3), 100, { batch: 2, maxBatches: 5 })).toEqual({ deleted: 4, error: 'D1_ERROR: storage reset' });
    expect(await pruneD1Audit(failingOn(99), 100, { batch: 2, maxBatches: 5 })).toEqual({ deleted: 10, error: null });
  });
});

describe('D1 outbox writes (many machines in one batch)', () => {
  const rec = (id: string, machineId: string, updatedAt: number) => ({
    id,
    view: view({ id: machineId, ekPublicKeySha256: null, updatedAt, lastEnrolledAt: updatedAt }),
    audit: { at: updatedAt, event: 'enroll', outcome: 'success' as const, machineId, method: 'code', code: null, reason: null, tokenId: null, requestId: id, actor: null, clientIp: null },
  });
  const capture = () => {
    const batches: Array<Array<{ body: { id: string; type: string } }>> = [];
    return { batches, queue: { sendBatch: async (m: Array<{ body: { id: string; type: string } }>) => void batches.push(m) } as unknown as Queue<never> };
  };

  it('writes every record once and each machine\'s newest view by updatedAt, whatever the order of the records', async () => {
    // Outbox keys are random (reservation ids): a machine's newer record may come first.
    const records = [rec('ob-a:2', 'ob-a', 12), rec('ob-b:1', 'ob-b', 11), rec('ob-a:1', 'ob-a', 10)];
    await writeOutbox(env.DB, records, null);
    await writeOutbox(env.DB, records, null); // a retried batch: stored once
    const audit = await env.DB.prepare("SELECT record_id FROM audit WHERE record_id LIKE 'ob-%' ORDER BY record_id").all<{ record_id: string }>();
    expect(audit.results.map((r) => r.record_id)).toEqual(['ob-a:1', 'ob-a:2', 'ob-b:1']);
    const index = createD1MachineIndex(env.DB);
    const listed = new Map((await index.list({ limit: 100, after: 'ob-' })).map((m) => [m.id, m.updatedAt]));
    expect(listed.get('ob-a')).toBe(12); // not the last record's (older) view
    expect(listed.get('ob-b')).toBe(11);
  });

  it('events are at least once: a repeated write publishes again under the same event ids (the receiver deduplicates)', async () => {
    const { batches, queue } = capture();
    const records = [rec('ev-a:1', 'ev-a', 1), rec('ev-b:1', 'ev-b', 2)];
    await writeOutbox(env.DB, records, queue);
    await writeOutbox(env.DB, records, queue); // as after a queue send that failed once the D1 write had committed
    const ids = batches.flat().map((m) => m.body.id);
    expect(ids).toEqual(['rec-ev-a:1', 'rec-ev-b:1', 'rec-ev-a:1', 'rec-ev-b:1']);
  });

  it('a batch of outboxes that fails is written outbox by outbox: one bad record fails only its machine', async () => {
    // A record D1 refuses (audit.event is NOT NULL): the shared batch fails as a whole.
    const bad = { ...rec('fb-bad:1', 'fb-bad', 3), audit: { ...rec('fb-bad:1', 'fb-bad', 3).audit, event: null as unknown as string } };
    const results = await writeOutboxes(env.DB, [[rec('fb-a:1', 'fb-a', 1)], [bad], [rec('fb-b:1', 'fb-b', 2)]], null);
    expect(results.map((r) => (r === undefined ? 'ok' : 'failed'))).toEqual(['ok', 'failed', 'ok']);
    const stored = await env.DB.prepare("SELECT record_id FROM audit WHERE record_id LIKE 'fb-%' ORDER BY record_id").all<{ record_id: string }>();
    expect(stored.results.map((r) => r.record_id)).toEqual(['fb-a:1', 'fb-b:1']);
    // One outbox alone that fails is its own error, not a retry.
    expect((await writeOutboxes(env.DB, [[bad]], null)).map((r) => r === undefined)).toEqual([false]);
  });

  it('a queue that refuses the events fails every outbox of the batch (records stay owed) after one D1 batch, not one more per outbox; the retry publishes them', async () => {
    let refuse = true;
    const batches: Array<Array<{ body: { id: string } }>> = [];
    const queue = {
      sendBatch: async (m: Array<{ body: { id: string } }>) => {
        if (refuse) throw new Error('Queue send failed: internal error');
        batches.push(m);
      },
    } as unknown as Queue<never>;
    let d1Batches = 0;
    const db = { prepare: (q: string) => env.DB.prepare(q), batch: (s: D1PreparedStatement[]) => (d1Batches++, env.DB.batch(s)) } as unknown as D1Database;
    const outboxes = [[rec('qf-a:1', 'qf-a', 1)], [rec('qf-b:1', 'qf-b', 2)]];
    // D1 commits before the send: the outboxes fail (and stay in their objects) although D1 holds the records.
    expect((await writeOutboxes(db, outboxes, queue)).map((r) => (r === undefined ? 'ok' : String(r)))).toEqual(['Error: Queue send failed: internal error', 'Error: Queue send failed: internal error']);
    expect(d1Batches).toBe(1);
    expect(batches).toEqual([]);
    refuse = false;
    expect(await writeOutboxes(db, outboxes, queue)).toEqual([undefined, undefined]);
    expect(d1Batches).toBe(2);
    expect(batches.flat().map((m) => m.body.id)).toEqual(['rec-qf-a:1', 'rec-qf-b:1']);
    const stored = await env.DB.prepare("SELECT record_id FROM audit WHERE record_id LIKE 'qf-%' ORDER BY record_id").all<{ record_id: string }>();
    expect(stored.results.map((r) => r.record_id)).toEqual(['qf-a:1', 'qf-b:1']);
  });

  it('no records: nothing is written; a queue that fails without an error still fails the outboxes', async () => {
    let d1Batches = 0;
    const db = { prepare: (q: string) => env.DB.prepare(q), batch: (s: D1PreparedStatement[]) => (d1Batches++, env.DB.batch(s)) } as unknown as D1Database;
    expect(await writeOutboxes(db, [[], []], null)).toEqual([undefined, undefined]);
    expect(d1Batches).toBe(0);
    const queue = { sendBatch: () => Promise.reject(undefined) } as unknown as Queue<never>;
    const results = await writeOutboxes(db, [[rec('qu-a:1', 'qu-a', 1)]], queue);
    expect(results.map((r) => (r instanceof Error ? r.message : r))).toEqual(['publish failed']);
  });

  it('sends events in chunks the Queue accepts (at most 100 messages each)', async () => {
    const { batches, queue } = capture();
    await writeOutbox(env.DB, Array.from({ length: 150 }, (_, i) => rec(`chunk-${i}:enroll`, `chunk-${i}`, i)), queue);
    expect(batches.map((b) => b.length)).toEqual([100, 50]);
  });
});

describe('D1 fleet event ids (retention)', () => {
  it('an id is claimed once; ids claimed before the cut-off are forgotten in bounded batches, and can then be claimed again', async () => {
    let clock = 1_000;
    const log = createD1WebhookEventLog(env.DB, () => clock);
    const meta = { type: 'machine.registered', machineId: 'fe-m', at: 5 };
    for (const id of ['fe-1', 'fe-2', 'fe-3']) expect(await log.claim(id, meta)).toBe(true);
    expect(await log.claim('fe-1', meta)).toBe(false);
    clock = 9_000;
    expect(await log.claim('fe-new', meta)).toBe(true);
    // Only ids claimed before 5,000 go (not by occurrence time: every id here occurred at 5).
    expect(await pruneD1FleetEvents(env.DB, 5_000, { batch: 2, maxBatches: 1 })).toEqual({ deleted: 2, error: null });
    expect(await pruneD1FleetEvents(env.DB, 5_000)).toEqual({ deleted: 1, error: null });
    expect(await log.claim('fe-new', meta)).toBe(false);
    expect(await log.claim('fe-1', meta)).toBe(true);
  });

  it('migration 0005 counts ids claimed before it as claimed at the migration, not at their occurredAt (which the sender chooses)', async () => {
    const before = Date.now();
    await env.DB.prepare("INSERT INTO fleet_events (id, type, machine_id, occurred_at) VALUES ('fe-legacy', 'machine.registered', 'm', 1)").run();
    const update = env.TEST_MIGRATIONS.find((m) => m.name.startsWith('0005'))!.queries.find((q) => q.includes('UPDATE fleet_events'))!;
    await env.DB.prepare(update).run();
    const row = await env.DB.prepare("SELECT claimed_at FROM fleet_events WHERE id = 'fe-legacy'").first<{ claimed_at: number }>();
    // SQLite's 'now' has whole seconds.
    expect(row!.claimed_at).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    expect(row!.claimed_at).toBeLessThanOrEqual(Date.now());
  });

  it('never forgets an id young enough to be replayed, nor one a pre-0005 worker claimed without a time (it counts as claimed now)', async () => {
    const now = Date.now();
    await env.DB.prepare("INSERT INTO fleet_events (id, type, machine_id, occurred_at, claimed_at) VALUES ('fe-young', 'machine.registered', 'm', 1, ?)").bind(now - 60_000).run();
    await env.DB.prepare("INSERT INTO fleet_events (id, type, machine_id, occurred_at) VALUES ('fe-untimed', 'machine.registered', 'm', 1)").run();
    // A retention cut-off in the future (as a misconfiguration might give) still keeps both.
    expect((await pruneD1FleetEvents(env.DB, now + 86_400_000, { now })).error).toBeNull();
    const rows = await env.DB.prepare("SELECT id, claimed_at FROM fleet_events WHERE id IN ('fe-young', 'fe-untimed') ORDER BY id").all<{ id: string; claimed_at: number }>();
    expect(rows.results).toEqual([
      { id: 'fe-untimed', claimed_at: now },
      { id: 'fe-young', claimed_at: now - 60_000 },
    ]);
  });
});
