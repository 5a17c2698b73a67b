// Store ports the use case depends on. Adapters: memory (tests, Deno for now), Durable Object +
// D1 (Workers). Each MachineStore call is atomic for its machine.
import type { JoinEvent, JoinOutcome, MachinePhase } from '../enroll/join-state.ts';
import type { ChallengeRecord, EnrollPolicy, FleetEvent, LiveToken, MachineRegistration, Proof, TokenRef } from '../enroll/machine-state.ts';

export interface MachineView {
  readonly id: string;
  readonly groups: readonly string[] | null;
  readonly labels: Readonly<Record<string, string>>;
  readonly tokenTtlSeconds: number | null;
  readonly hasEnrollmentCode: boolean;
  readonly enrollmentCodeUsed: boolean;
  readonly enrollmentCodeExpiresAt: number | null;
  readonly jwtSubject: string | null;
  readonly ekPublicKeySha256: string | null;
  readonly certificateSha256: string | null;
  readonly revokedAt: number | null;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly liveToken: { readonly id: string; readonly expiresAt: number | null; readonly method: string } | null;
  readonly lastEnrolledAt: number | null;
  /** Derived (join-state.ts machinePhase). */
  readonly state: MachinePhase;
  readonly node: { readonly name: string; readonly uid: string; readonly joinedAt: number } | null;
}

export interface MachineStore {
  register(reg: MachineRegistration, now: number): Promise<{ machine: MachineView; created: boolean }>;
  get(id: string): Promise<MachineView | null>;
  revoke(id: string, now: number): Promise<{ machine: MachineView; tokensToDelete: TokenRef[] }>;
  /** Single-use check and reservation; throws AppError (machine_unknown, machine_revoked, code_used, …). */
  /** `keySha256`: the request's Idempotency-Key digest (src/enroll/idempotency.ts), if any. */
  reserve(id: string, proof: Proof, reservationId: string, now: number, keySha256?: string | null): Promise<EnrollPolicy>;
  /** Records the minted token; returns tokens now owed a delete (the previous one). */
  commit(id: string, reservationId: string, minted: LiveToken, usedJwt: { jtiSha256: string; exp: number } | null, now: number): Promise<TokenRef[]>;
  /** Frees the reservation; `owed` (an ambiguous create) is recorded as owed a delete-if-exists. */
  release(id: string, reservationId: string, owed?: TokenRef | readonly TokenRef[] | null): Promise<void>;
  confirmDeleted(id: string, tokenIds: readonly string[]): Promise<void>;
  /** Applies a fleet webhook event if it is newer than the last one applied to this machine. */
  fleetEvent(id: string, event: FleetEvent, now: number): Promise<{ applied: boolean; machine: MachineView | null; tokensToDelete: TokenRef[] }>;
  /** Join watch transitions (join-state.ts applyJoinEvent). */
  join(id: string, event: JoinEvent, now: number): Promise<JoinOutcome & { machine: MachineView | null }>;
}

/**
 * Open TPM / device-certificate challenges by their opaque id (the id says nothing of the machine;
 * this store maps it back). Kept apart from the machine's document so that opening challenges,
 * which anyone holding a public EK or device certificate can do, never displaces another one.
 */
export interface ChallengeStore {
  put(challenge: ChallengeRecord): Promise<void>;
  /** The challenge with this id, or null (unknown, or past its expiry and cleaned up). */
  get(id: string): Promise<ChallengeRecord | null>;
}

/** Fleet webhook event ids, each applied at most once. */
export interface WebhookEventLog {
  /** True if this id was not seen before (and is now claimed). */
  claim(id: string, meta: { type: string; machineId: string; at: number }): Promise<boolean>;
  /** Gives an id back after its event failed to apply, so a retry can apply it. */
  unclaim(id: string): Promise<void>;
}

export interface AuditEvent {
  readonly at: number;
  readonly event: string;
  readonly outcome: 'success' | 'failure';
  readonly machineId: string | null;
  readonly method: string | null;
  readonly code: string | null;
  /** Precise reason; never a secret. */
  readonly reason: string | null;
  readonly tokenId: string | null;
  readonly requestId: string | null;
  readonly actor: string | null;
  readonly clientIp: string | null;
}

export interface AuditRecord extends AuditEvent {
  readonly seq: number;
}

export interface AuditLog {
  append(event: AuditEvent): Promise<void>;
  list(query: { sinceMs?: number; limit: number }): Promise<AuditRecord[]>;
}

/** The fleet listing (eventually consistent copy of each machine's view). */
export interface MachineIndex {
  upsert(view: MachineView): Promise<void>;
  /** The machine registered with this EK public-key hash, revoked ones included, if any. */
  findByEk(ekPublicKeySha256: string): Promise<string | null>;
  list(query: { limit: number; after?: string }): Promise<MachineView[]>;
}

export interface RateLimiter {
  /** Counts one hit for `key`; says whether it is allowed and, if not, when to retry. */
  hit(key: string, now: number): Promise<{ allowed: boolean; retryAfterSeconds: number }>;
}
