// MachineStore logic over any synchronous cell holding one machine's state document: the one
// place that turns the pure state functions into the port's calls. Used by the memory adapter
// and, inside each Durable Object, by the DO adapter.
import {
  applyRegistration,
  applyFleetEvent,
  applyRevocation,
  confirmDeleted,
  RejectionWithState,
  releaseEnrollment,
  type EnrollPolicy,
  type FleetEvent,
  type LiveToken,
  type MachineRegistration,
  type MachineState,
  type Proof,
  type TokenRef,
} from '../enroll/machine-state.ts';
import { commitWithKey, reserveWithKey } from '../enroll/idempotency.ts';
import { applyJoinEvent, machinePhase, type JoinEvent, type JoinOutcome } from '../enroll/join-state.ts';
import { AppError } from '../errors.ts';
import type { MachineView } from './ports.ts';

export interface StateCell {
  load(): MachineState | null;
  save(state: MachineState | null): void;
}

export function toView(s: MachineState): MachineView {
  const r = s.registration;
  return {
    id: r.id,
    groups: r.groups,
    labels: r.labels,
    tokenTtlSeconds: r.tokenTtlSeconds,
    hasEnrollmentCode: r.enrollmentCodeSha256 !== null,
    enrollmentCodeUsed: s.codeUsedAt !== null,
    enrollmentCodeExpiresAt: r.enrollmentCodeExpiresAt,
    jwtSubject: r.jwtSubject,
    ekPublicKeySha256: r.ekPublicKeySha256,
    certificateSha256: r.certificateSha256,
    revokedAt: s.revokedAt,
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
    liveToken: s.liveToken ? { id: s.liveToken.id, expiresAt: s.liveToken.expiresAt, method: s.liveToken.method } : null,
    lastEnrolledAt: s.lastEnrolledAt,
    state: machinePhase(s),
    node: s.join?.node ?? null,
  };
}

export function machineCellOps(cell: StateCell) {
  const rethrow = (err: unknown): never => {
    if (err instanceof RejectionWithState) {
      cell.save(err.state);
      throw err.error;
    }
    throw err;
  };
  return {
    register(reg: MachineRegistration, now: number): { machine: MachineView; created: boolean } {
      const { state, created } = applyRegistration(cell.load(), reg, now);
      cell.save(state);
      return { machine: toView(state), created };
    },
    get(): MachineView | null {
      const s = cell.load();
      return s ? toView(s) : null;
    },
    revoke(now: number): { machine: MachineView; tokensToDelete: TokenRef[] } {
      const { state, tokensToDelete } = applyRevocation(cell.load(), now);
      cell.save(state);
      return { machine: toView(state), tokensToDelete };
    },
    reserve(proof: Proof, reservationId: string, now: number, keySha256: string | null = null): EnrollPolicy {
      try {
        const { state, policy } = reserveWithKey(cell.load(), proof, reservationId, now, keySha256);
        cell.save(state);
        return policy;
      } catch (err) {
        return rethrow(err);
      }
    },
    commit(reservationId: string, minted: LiveToken, usedJwt: { jtiSha256: string; exp: number } | null, now: number): TokenRef[] {
      try {
        const { state, tokensToDelete } = commitWithKey(cell.load(), reservationId, minted, usedJwt, now);
        cell.save(state);
        return tokensToDelete;
      } catch (err) {
        return rethrow(err);
      }
    },
    release(reservationId: string, owed?: TokenRef | readonly TokenRef[] | null): void {
      cell.save(releaseEnrollment(cell.load(), reservationId, owed));
    },
    fleetEvent(id: string, event: FleetEvent, now: number): { applied: boolean; machine: MachineView | null; tokensToDelete: TokenRef[] } {
      const { state, applied, tokensToDelete } = applyFleetEvent(cell.load(), id, event, now);
      if (applied) cell.save(state);
      return { applied, machine: state ? toView(state) : null, tokensToDelete };
    },
    join(event: JoinEvent, now: number): JoinOutcome & { machine: MachineView | null } {
      const before = cell.load();
      const { state, outcome } = applyJoinEvent(before, event, now);
      if (state !== before) cell.save(state);
      return { ...outcome, machine: state ? toView(state) : null };
    },
    confirmDeleted(ids: readonly string[]): void {
      cell.save(confirmDeleted(cell.load(), ids));
    },
  };
}

export function assertMachineExists<T>(v: T | null, id: string): T {
  if (v === null) throw new AppError('machine_unknown', `machine "${id}" is not registered`);
  return v;
}
