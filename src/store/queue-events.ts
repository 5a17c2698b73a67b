// Outbound enrollment events on Workers: every published audit event is also sent to a Cloudflare
// Queue; the consumer POSTs each, signed like the inbound fleet webhooks, to EVENTS_WEBHOOK_URL,
// retrying with backoff until max_retries, then the dead-letter queue keeps it.
import { deliverEvent, PUBLISHED_EVENTS, toOutboundEvent, type OutboundEvent } from '../enroll/events.ts';
import type { AuditLog } from './ports.ts';

export type { OutboundEvent };

export function createQueuedAuditLog(inner: AuditLog, queue: Queue<OutboundEvent>, newId: () => string): AuditLog {
  return {
    async append(e) {
      await inner.append(e);
      if (PUBLISHED_EVENTS.has(e.event)) await queue.send(toOutboundEvent(e, newId()), { contentType: 'json' });
    },
    list: (q) => inner.list(q),
  };
}

/** Queue consumer: 2xx acks, anything else retries with exponential backoff. */
export async function deliverEvents(batch: MessageBatch<OutboundEvent>, target: { url: string; secret: string }, fetchImpl: typeof fetch, now: () => Date): Promise<void> {
  for (const msg of batch.messages) {
    if (await deliverEvent(msg.body, target, fetchImpl, now)) msg.ack();
    else msg.retry({ delaySeconds: Math.min(300, 2 ** msg.attempts) });
  }
}
