// Writes machines' outboxes (audit records + each machine's newest listing view) to D1 in one batch, each audit
// record at most once (its record_id is unique), and publishes the enrollment events to the queue
// when EVENTS_WEBHOOK_URL is set. Called from the machine's Durable Object after its answer (batched per isolate) and from its alarm.
import type { OutboxRecord } from '../enroll/atomic-enroll.ts';
import { PUBLISHED_EVENTS, toOutboundEvent, type OutboundEvent } from '../enroll/events.ts';
import { machineUpsert } from './d1.ts';

export async function writeOutbox(db: D1Database, records: readonly OutboxRecord[], queue: Queue<OutboundEvent> | null, newId: () => string): Promise<void> {
  if (records.length === 0) return;
  const audit = db.prepare('INSERT INTO audit (at, event, outcome, machine_id, method, code, reason, token_id, request_id, actor, client_ip, record_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (record_id) DO NOTHING');
  const stmts: D1PreparedStatement[] = [];
  for (const r of records) {
    const e = r.audit;
    stmts.push(audit.bind(e.at, e.event, e.outcome, e.machineId, e.method, e.code, e.reason?.slice(0, 1000) ?? null, e.tokenId, e.requestId, e.actor, e.clientIp, r.id));
  }
  // The newest view of each machine is enough for the listing; one batch (one D1 round trip) for
  // all (the records of many machines' outboxes may be written together).
  const latest = new Map<string, NonNullable<OutboxRecord['view']>>();
  for (const r of records) if (r.view !== null) latest.set(r.view.id, r.view);
  for (const view of latest.values()) stmts.push(machineUpsert(db, view));
  const results = await db.batch(stmts);
  if (queue) {
    // Only records this write stored (not ones a repeated flush finds already there): a flush
    // retried after a crash, a timeout or a lost answer publishes each event once.
    const stored = records.filter((_, i) => (results[i]?.meta.changes ?? 0) > 0);
    const events = stored.filter((r) => PUBLISHED_EVENTS.has(r.audit.event)).map((r) => ({ body: toOutboundEvent(r.audit, newId()), contentType: 'json' as const }));
    if (events.length > 0) await queue.sendBatch(events);
  }
}
