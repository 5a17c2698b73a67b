// Writes machines' outboxes (audit records + each machine's newest listing view) to D1 in one
// batch, each audit record at most once (its record_id is unique), and publishes the enrollment
// events to the queue when EVENTS_WEBHOOK_URL is set. Called from the machine's Durable Object
// right after its answer (batched per isolate with other machines') and from its alarm.
//
// Events are at least once: every write of a record publishes its event again (the D1 write
// commits before the queue send, so a send that failed or never happened must be retried with
// the record), under an id derived from the record's, so a receiver deduplicates on
// `x-enroll-event-id`.
import type { OutboxRecord } from '../enroll/atomic-enroll.ts';
import { PUBLISHED_EVENTS, toOutboundEvent, type OutboundEvent } from '../enroll/events.ts';
import { machineUpsert } from './d1.ts';

/** Messages per Queue sendBatch at most (a Cloudflare Queues limit). */
export const QUEUE_SEND_MAX = 100;

export async function writeOutbox(db: D1Database, records: readonly OutboxRecord[], queue: Queue<OutboundEvent> | null): Promise<void> {
  if (records.length === 0) return;
  await writeRecords(db, records);
  if (queue) await publish(queue, records);
}

/** The audit records and each machine's newest listing view, in one D1 batch (one round trip, one transaction). */
async function writeRecords(db: D1Database, records: readonly OutboxRecord[]): Promise<void> {
  const audit = db.prepare('INSERT INTO audit (at, event, outcome, machine_id, method, code, reason, token_id, request_id, actor, client_ip, record_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (record_id) DO NOTHING');
  const stmts: D1PreparedStatement[] = [];
  for (const r of records) {
    const e = r.audit;
    stmts.push(audit.bind(e.at, e.event, e.outcome, e.machineId, e.method, e.code, e.reason?.slice(0, 1000) ?? null, e.tokenId, e.requestId, e.actor, e.clientIp, r.id));
  }
  // Each machine's newest view (by updatedAt: outbox keys are not in time order) is enough for the
  // listing.
  const latest = new Map<string, NonNullable<OutboxRecord['view']>>();
  for (const r of records) {
    const v = r.view;
    if (v !== null && (latest.get(v.id)?.updatedAt ?? -Infinity) <= v.updatedAt) latest.set(v.id, v);
  }
  for (const view of latest.values()) stmts.push(machineUpsert(db, view));
  await db.batch(stmts);
}

async function publish(queue: Queue<OutboundEvent>, records: readonly OutboxRecord[]): Promise<void> {
  const events = records.filter((r) => PUBLISHED_EVENTS.has(r.audit.event)).map((r) => ({ body: toOutboundEvent(r.audit, `rec-${r.id}`), contentType: 'json' as const }));
  for (let i = 0; i < events.length; i += QUEUE_SEND_MAX) await queue.sendBatch(events.slice(i, i + QUEUE_SEND_MAX));
}

/**
 * Several machines' outboxes in one D1 batch; if D1 refuses that batch, each outbox is written on
 * its own, so one bad record fails only its machine. If D1 took it and the queue then refuses the
 * events, every outbox fails as it is (their records stay owed and are written again, once, with
 * their events, at the next flush), without writing D1 again outbox by outbox. Answers one error
 * (or undefined) per outbox.
 */
export async function writeOutboxes(db: D1Database, outboxes: ReadonlyArray<readonly OutboxRecord[]>, queue: Queue<OutboundEvent> | null): Promise<unknown[]> {
  const all = outboxes.flat();
  if (all.length === 0) return outboxes.map(() => undefined);
  try {
    await writeRecords(db, all);
  } catch (err) {
    if (outboxes.length === 1) return [err ?? new Error('write failed')];
    return Promise.all(outboxes.map((o) => writeOutbox(db, o, queue).then(() => undefined, (e: unknown) => e ?? new Error('write failed'))));
  }
  if (queue) {
    try {
      await publish(queue, all);
    } catch (err) {
      return outboxes.map(() => err ?? new Error('publish failed'));
    }
  }
  return outboxes.map(() => undefined);
}
