// Admission refusals (503 cluster_busy before any proof is looked at) audited as one `enroll.busy`
// record per window with their count, instead of one record each. It does not touch any other
// outcome: a failed proof, a replay, an unknown machine keep their own record.
import type { AuditLog } from '../store/ports.ts';

/**
 * How long one aggregated record counts refusals. A storm's isolate refuses hundreds a second, and
 * one audit write costs more than the refusal itself (~1.3 ms of workerd CPU each vs ~1.2 ms for
 * the whole refusal; bench/storm.bench.mjs), so per-refusal records would make shedding load cost
 * about as much as serving it.
 */
export const BUSY_AUDIT_WINDOW_MS = 1000;
/** Distinct client addresses remembered per window (the count goes on past it). */
const BUSY_AUDIT_MAX_ADDRESSES = 1000;

export interface BusyRefusal {
  readonly requestId: string;
  readonly clientIp: string | null;
  readonly method: string | null;
}

export interface BusyAudit {
  /**
   * Counts one admission refusal. The first of a window returns the work that writes the
   * window's record once it closes (the caller keeps it alive: Workers `waitUntil`); the others
   * return null and cost a counter.
   */
  refused(r: BusyRefusal): Promise<void> | null;
}

interface Window {
  readonly from: number;
  readonly firstRequestId: string;
  count: number;
  last: number;
  readonly addresses: Set<string>;
  readonly methods: Set<string>;
}

/**
 * Why nothing that matters is lost: an admission refusal looked at no proof and changed nothing
 * (no read, no reservation, no slot), so it is load shedding, not a security event; what the
 * audit needs from it is how many, when, from how many addresses. Every refusal is still logged
 * (`request.rejected`, its own request id). If the isolate dies inside a window, that window's
 * count (at most BUSY_AUDIT_WINDOW_MS of refusals) is lost; the log lines remain.
 */
export function createBusyAudit(deps: { audit: Pick<AuditLog, 'append'>; now: () => number; sleep: (ms: number) => Promise<void>; windowMs?: number }): BusyAudit {
  const windowMs = deps.windowMs ?? BUSY_AUDIT_WINDOW_MS;
  let open: Window | null = null;
  const flush = async (w: Window) => {
    await deps.sleep(windowMs);
    if (open === w) open = null;
    await deps.audit
      .append({
        at: w.from,
        event: 'enroll.busy',
        outcome: 'failure',
        machineId: null,
        method: w.methods.size === 1 ? [...w.methods][0]! : null,
        code: 'cluster_busy',
        reason: JSON.stringify({ refused: w.count, fromMs: w.from, toMs: w.last, addresses: w.addresses.size, methods: [...w.methods].sort() }),
        tokenId: null,
        requestId: w.firstRequestId,
        actor: null,
        clientIp: w.addresses.size === 1 ? [...w.addresses][0]! : null,
      })
      .catch(() => undefined); // a lost write is logged by the audit wrapper (servicesOf)
  };
  return {
    refused(r) {
      const now = deps.now();
      let first = false;
      if (!open || now - open.from >= windowMs) {
        open = { from: now, firstRequestId: r.requestId, count: 0, last: now, addresses: new Set(), methods: new Set() };
        first = true;
      }
      const w = open;
      w.count++;
      w.last = now;
      if (r.clientIp !== null && w.addresses.size < BUSY_AUDIT_MAX_ADDRESSES) w.addresses.add(r.clientIp);
      if (r.method) w.methods.add(r.method);
      return first ? flush(w) : null;
    },
  };
}
