// Outbound enrollment events (Workers): every enrollment, rejection and revocation written to the
// audit log is also queued (Cloudflare Queue), and the queue consumer POSTs it, signed like the
// inbound fleet webhooks, to EVENTS_WEBHOOK_URL. A failed delivery is retried with backoff and
// ends in the dead-letter queue after the consumer's max_retries: nothing is dropped silently.
import { signWebhook, SIGNATURE_HEADER } from '../http/webhook-signature.ts';
import type { AuditEvent, AuditLog } from './ports.ts';

export const PUBLISHED_EVENTS = new Set(['enroll', 'machine.revoke', 'fleet.machine.revoked']);
export const DELIVERY_TIMEOUT_MS = 10_000;

export interface OutboundEvent {
  readonly id: string;
  readonly type: string;
  readonly occurredAt: string;
  readonly data: Omit<AuditEvent, 'reason' | 'clientIp'>;
}

export function toOutboundEvent(e: AuditEvent, id: string): OutboundEvent {
  const type = e.event === 'enroll' ? (e.outcome === 'success' ? 'machine.enrolled' : 'machine.enrollment_rejected') : 'machine.revoked';
  const { reason: _reason, clientIp: _ip, ...data } = e;
  return { id, type, occurredAt: new Date(e.at).toISOString(), data };
}

export function createQueuedAuditLog(inner: AuditLog, queue: Queue<OutboundEvent>, newId: () => string): AuditLog {
  return {
    async append(e) {
      await inner.append(e);
      if (PUBLISHED_EVENTS.has(e.event)) await queue.send(toOutboundEvent(e, newId()), { contentType: 'json' });
    },
    list: (q) => inner.list(q),
  };
}

/** Queue consumer: one signed POST per message; 2xx acks, anything else retries with backoff. */
export async function deliverEvents(batch: MessageBatch<OutboundEvent>, target: { url: string; secret: string }, fetchImpl: typeof fetch, now: () => Date): Promise<void> {
  for (const msg of batch.messages) {
    const body = JSON.stringify(msg.body);
    try {
      const res = await fetchImpl(target.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signWebhook(target.secret, body, Math.floor(now().getTime() / 1000)), 'x-enroll-event-id': msg.body.id },
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
      });
      await res.body?.cancel();
      if (res.status >= 200 && res.status < 300) msg.ack();
      else msg.retry({ delaySeconds: Math.min(300, 2 ** msg.attempts) });
    } catch {
      msg.retry({ delaySeconds: Math.min(300, 2 ** msg.attempts) });
    }
  }
}
