// Pure summaries for the dashboard: a machine's state, states counted, and audit events bucketed
// per hour. Take `now` as an argument; no I/O.
import type { AuditRecord, MachineView } from '../store/ports.ts';

export const MACHINE_STATES = ['registered', 'enrolled', 'joined', 'join_expired', 'revoked'] as const;

/**
 * The state the API reports (`state`, once the join watch sets it); before that, derived from the
 * view: revoked, enrolled (it has been given a token), else registered.
 */
export function machineStateOf(v: MachineView): string {
  const reported = (v as { state?: unknown }).state;
  if (typeof reported === 'string') return reported;
  if (v.revokedAt !== null) return 'revoked';
  if (v.lastEnrolledAt !== null || v.liveToken !== null) return 'enrolled';
  return 'registered';
}

/** The machine's Node name, when the join watch has recorded one. */
export function nodeNameOf(v: MachineView): string | null {
  const node = (v as { node?: unknown }).node;
  return node && typeof node === 'object' && typeof (node as { name?: unknown }).name === 'string' ? (node as { name: string }).name : null;
}

/** The states a machine can be in before the join watch reports `state` (no joined/join_expired yet). */
export const MACHINE_STATES_WITHOUT_JOIN_WATCH = ['registered', 'enrolled', 'revoked'] as const;

/** Machines per state: every state the service reports, in lifecycle order, zeros included. */
export function countStates(views: readonly MachineView[]): Record<string, number> {
  const counts: Record<string, number> = {};
  const reported = views.some((v) => typeof (v as { state?: unknown }).state === 'string');
  for (const s of reported ? MACHINE_STATES : MACHINE_STATES_WITHOUT_JOIN_WATCH) counts[s] = 0;
  for (const v of views) {
    const s = machineStateOf(v);
    counts[s] = (counts[s] ?? 0) + 1;
  }
  return counts;
}

export interface HourBucket {
  readonly start: number;
  readonly enrolled: number;
  readonly rejected: number;
}

export const HOUR_MS = 3_600_000;

/** Enrollments (`enroll` successes) and rejections (`enroll`/`enroll.challenge` failures) per hour, oldest first. */
export function hourlyEnrollments(events: readonly AuditRecord[], now: number, hours = 24): HourBucket[] {
  const end = Math.floor(now / HOUR_MS) * HOUR_MS + HOUR_MS;
  const start = end - hours * HOUR_MS;
  const enrolled = new Array<number>(hours).fill(0);
  const rejected = new Array<number>(hours).fill(0);
  for (const e of events) {
    if (e.at < start || e.at >= end || !isEnrollEvent(e)) continue;
    const i = Math.floor((e.at - start) / HOUR_MS);
    if (e.outcome === 'success' && e.event === 'enroll') enrolled[i]!++;
    else if (e.outcome === 'failure') rejected[i]!++;
  }
  return enrolled.map((n, i) => ({ start: start + i * HOUR_MS, enrolled: n, rejected: rejected[i]! }));
}

export function isEnrollEvent(e: { event: string }): boolean {
  return e.event === 'enroll' || e.event === 'enroll.challenge';
}

/** Kubernetes-style label selector of one term: `key` (present) or `key=value`. */
export function matchesLabel(labels: Readonly<Record<string, string>>, selector: string): boolean {
  const s = selector.trim();
  if (s === '') return true;
  const i = s.indexOf('=');
  if (i < 0) return Object.hasOwn(labels, s);
  return labels[s.slice(0, i).trim()] === s.slice(i + 1).trim();
}
