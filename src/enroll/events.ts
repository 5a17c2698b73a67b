// Outbound enrollment events, runtime-agnostic: which audit events are published, their wire
// shape (no reasons, no client addresses), and one signed delivery attempt. Queuing and retries
// are the runtime's (Cloudflare Queues on Workers, Deno KV queues on Deno).
import { signWebhook, SIGNATURE_HEADER } from '../http/webhook-signature.ts';
import type { AuditEvent } from '../store/ports.ts';

export const PUBLISHED_EVENTS = new Set(['enroll', 'machine.revoke', 'fleet.machine.revoked', 'machine.joined', 'machine.join_expired', 'machine.join_conflict']);
/** Audit events published under their own name (the join watch's). */
const SAME_NAME_EVENTS = new Set(['machine.joined', 'machine.join_expired', 'machine.join_conflict']);
export const DELIVERY_TIMEOUT_MS = 10_000;

export interface OutboundEvent {
  readonly id: string;
  readonly type: string;
  readonly occurredAt: string;
  readonly data: Omit<AuditEvent, 'reason' | 'clientIp'>;
}

export function toOutboundEvent(e: AuditEvent, id: string): OutboundEvent {
  const type = e.event === 'enroll' ? (e.outcome === 'success' ? 'machine.enrolled' : 'machine.enrollment_rejected') : SAME_NAME_EVENTS.has(e.event) ? e.event : 'machine.revoked';
  const { reason: _reason, clientIp: _ip, ...data } = e;
  return { id, type, occurredAt: new Date(e.at).toISOString(), data };
}

/** One signed POST; true when the receiver answered 2xx. Never throws. */
export async function deliverEvent(event: OutboundEvent, target: { url: string; secret: string }, fetchImpl: typeof fetch, now: () => Date): Promise<boolean> {
  const body = JSON.stringify(event);
  try {
    const res = await fetchImpl(target.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signWebhook(target.secret, body, Math.floor(now().getTime() / 1000)), 'x-enroll-event-id': event.id },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
    });
    await res.body?.cancel();
    return res.status >= 200 && res.status < 300;
  } catch {
    return false;
  }
}
