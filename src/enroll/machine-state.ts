// The per-machine state machine behind the invariants of DESIGN.md §4, as pure functions over a
// JSON document: registration, revocation, single-use proofs (reserve → commit | release), the
// one live token, and tokens owed a delete. Adapters (Durable Object, memory) load, apply, save;
// because nothing here awaits, each apply is atomic inside a Durable Object.
import { AppError } from '../errors.ts';

export interface MachineRegistration {
  readonly id: string;
  readonly enrollmentCodeSha256: string | null;
  readonly enrollmentCodeExpiresAt: number | null;
  readonly jwtSubject: string | null;
  readonly ekPublicKeySha256: string | null;
  readonly certificateSha256: string | null;
  /** null = the service default (TOKEN_GROUPS). */
  readonly groups: readonly string[] | null;
  readonly labels: Readonly<Record<string, string>>;
  /** null = the service default (TOKEN_TTL). */
  readonly tokenTtlSeconds: number | null;
}

export interface TokenRef {
  readonly id: string;
  readonly uid: string;
}

export interface LiveToken extends TokenRef {
  readonly expiresAt: number | null;
  readonly mintedAt: number;
  readonly method: string;
}

export interface MachineState {
  readonly version: 1;
  readonly registration: MachineRegistration;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly revokedAt: number | null;
  readonly codeUsedAt: number | null;
  readonly reservation: { readonly id: string; readonly method: string; readonly proofKey: string; readonly until: number } | null;
  readonly liveToken: LiveToken | null;
  /** Tokens that must be deleted from the cluster (replaced, revoked); retried by the alarm. */
  readonly pendingDeletes: readonly TokenRef[];
  /** SHA-256 (hex) of used JWT ids → their `exp` (ms), kept until then. */
  readonly usedJwts: Readonly<Record<string, number>>;
  /** Recent enrollment attempts (ms), for the per-machine rate limit. */
  readonly attempts: readonly number[];
  readonly lastEnrolledAt: number | null;
  /** Occurrence time (ms) of the last fleet webhook event applied; older events are stale. */
  readonly lastFleetEventAt?: number | null;
  /** The open TPM credential-activation challenge: SHA-256 of the credential, single use. */
  readonly challenge?: { readonly id: string; readonly secretSha256: string; readonly expiresAt: number; readonly ekSha256: string; readonly akName?: string; readonly quoteRequired?: boolean; readonly kind?: 'tpm' | 'x509' } | null;
}

export const CHALLENGE_TTL_MS = 5 * 60_000;

/** Opens a TPM challenge (replacing any open one). The machine must exist and not be revoked. */
export function applyChallenge(state: MachineState | null, challenge: { id: string; secretSha256: string; ekSha256: string; akName?: string; quoteRequired?: boolean; kind?: 'tpm' | 'x509' }, now: number): MachineState {
  if (state === null) throw new AppError('machine_unknown', 'this machine is not registered', { reason: 'no registration for this EK' });
  if (state.revokedAt !== null) throw new AppError('machine_revoked', 'this machine has been revoked');
  return { ...state, challenge: { ...challenge, expiresAt: now + CHALLENGE_TTL_MS }, updatedAt: now };
}

export type FleetEvent = { readonly type: 'machine.registered'; readonly registration: MachineRegistration; readonly at: number } | { readonly type: 'machine.revoked'; readonly at: number };

export type Proof =
  | { readonly method: 'code'; readonly codeSha256: string }
  | { readonly method: 'jwt'; readonly jtiSha256: string; readonly exp: number; readonly issuer: string; readonly subject: string }
  | { readonly method: 'tpm' | 'x509'; readonly challengeId: string; readonly secretSha256: string; /** Hex AK name, set when a quote by that AK was verified. */ readonly quotedAkName?: string };

export interface EnrollPolicy {
  readonly groups: readonly string[] | null;
  readonly labels: Readonly<Record<string, string>>;
  readonly tokenTtlSeconds: number | null;
}

export const RESERVATION_MS = 60_000;
export const MACHINE_RATE_WINDOW_MS = 60_000;
export const MACHINE_RATE_MAX_ATTEMPTS = 10;

export function applyRegistration(state: MachineState | null, reg: MachineRegistration, now: number): { state: MachineState; created: boolean } {
  if (state === null) {
    return {
      created: true,
      state: { version: 1, registration: reg, createdAt: now, updatedAt: now, revokedAt: null, codeUsedAt: null, reservation: null, liveToken: null, pendingDeletes: [], usedJwts: {}, attempts: [], lastEnrolledAt: null },
    };
  }
  // A new code is a new single use; re-registering a revoked machine is an explicit reinstatement.
  const newCode = reg.enrollmentCodeSha256 !== null && reg.enrollmentCodeSha256 !== state.registration.enrollmentCodeSha256;
  return {
    created: false,
    state: { ...state, registration: reg, updatedAt: now, revokedAt: null, codeUsedAt: newCode ? null : state.codeUsedAt },
  };
}

/**
 * A fleet system's event, applied in occurrence order per machine: an event older than the last
 * one applied changes nothing. A revocation of an unknown machine leaves a revoked tombstone
 * so that an older, late `registered` cannot bring the machine back.
 */
export function applyFleetEvent(state: MachineState | null, id: string, event: FleetEvent, now: number): { state: MachineState | null; applied: boolean; tokensToDelete: TokenRef[] } {
  const last = state?.lastFleetEventAt ?? null;
  // Ties apply in arrival order: without a finer occurrence time the sender's order is all we have.
  if (last !== null && event.at < last) return { state, applied: false, tokensToDelete: [] };
  if (event.type === 'machine.registered') {
    const { state: next } = applyRegistration(state, event.registration, now);
    return { state: { ...next, lastFleetEventAt: event.at }, applied: true, tokensToDelete: [] };
  }
  const base: MachineState =
    state ?? {
      version: 1,
      registration: { id, enrollmentCodeSha256: null, enrollmentCodeExpiresAt: null, jwtSubject: null, ekPublicKeySha256: null, certificateSha256: null, groups: null, labels: {}, tokenTtlSeconds: null },
      createdAt: now,
      updatedAt: now,
      revokedAt: null,
      codeUsedAt: null,
      reservation: null,
      liveToken: null,
      pendingDeletes: [],
      usedJwts: {},
      attempts: [],
      lastEnrolledAt: null,
    };
  const { state: revoked, tokensToDelete } = applyRevocation(base, now);
  return { state: { ...revoked, lastFleetEventAt: event.at }, applied: true, tokensToDelete };
}

export function applyRevocation(state: MachineState | null, now: number): { state: MachineState; tokensToDelete: TokenRef[] } {
  if (state === null) throw new AppError('machine_unknown', 'no such machine');
  const tokensToDelete = [...state.pendingDeletes, ...(state.liveToken ? [ref(state.liveToken)] : [])];
  return {
    tokensToDelete,
    state: { ...state, revokedAt: state.revokedAt ?? now, updatedAt: now, liveToken: null, reservation: null, pendingDeletes: tokensToDelete },
  };
}

export function reserveEnrollment(
  state: MachineState | null,
  proof: Proof,
  reservationId: string,
  now: number,
): { state: MachineState; policy: EnrollPolicy } {
  if (state === null) throw new AppError('machine_unknown', 'this machine is not registered', { reason: 'no registration' });
  const attempts = state.attempts.filter((t) => t > now - MACHINE_RATE_WINDOW_MS);
  if (attempts.length >= MACHINE_RATE_MAX_ATTEMPTS) {
    const retry = Math.ceil((attempts[0]! + MACHINE_RATE_WINDOW_MS - now) / 1000);
    throw new AppError('rate_limited', 'too many enrollment attempts for this machine', { reason: `machine rate limit: ${attempts.length} attempts in 60 s`, retryAfterSeconds: Math.max(1, retry) });
  }
  // Every attempt counts toward the limit, successful or not; the caller saves this on rejection too.
  const counted: MachineState = { ...state, attempts: [...attempts, now] };
  const reject = (code: 'attestation_rejected' | 'code_used' | 'machine_revoked' | 'conflict', message: string, reason: string) => {
    throw new RejectionWithState(new AppError(code, message, { reason }), counted);
  };
  if (state.revokedAt !== null) reject('machine_revoked', 'this machine has been revoked', 'machine revoked');
  const reg = state.registration;
  let proofKey: string;
  switch (proof.method) {
    case 'code': {
      if (reg.enrollmentCodeSha256 === null) reject('attestation_rejected', 'attestation rejected', 'no enrollment code registered');
      if (!constantTimeEqualHex(proof.codeSha256, reg.enrollmentCodeSha256!)) reject('attestation_rejected', 'attestation rejected', 'enrollment code mismatch');
      if (state.codeUsedAt !== null) reject('code_used', 'this enrollment code has already been used', 'code already used');
      if (state.reservation?.method === 'code') reject('code_used', 'this enrollment code has already been used', 'code in use by a concurrent enrollment');
      if (reg.enrollmentCodeExpiresAt !== null && reg.enrollmentCodeExpiresAt <= now) reject('attestation_rejected', 'attestation rejected', 'enrollment code expired');
      proofKey = `code:${reg.enrollmentCodeSha256}`;
      break;
    }
    case 'jwt': {
      // jwtSubject is `<iss>|<sub>` or a bare `<sub>` (any configured issuer).
      if (reg.jwtSubject !== null && reg.jwtSubject !== proof.subject && reg.jwtSubject !== `${proof.issuer}|${proof.subject}`) reject('attestation_rejected', 'attestation rejected', 'jwt subject does not match the registration');
      const used = state.usedJwts[proof.jtiSha256];
      if ((used !== undefined && used > now) || state.reservation?.proofKey === `jwt:${proof.jtiSha256}`) reject('attestation_rejected', 'attestation rejected', 'jwt replayed');
      proofKey = `jwt:${proof.jtiSha256}`;
      break;
    }
    case 'tpm':
    case 'x509': {
      const ch = state.challenge ?? null;
      if (ch === null || ch.id !== proof.challengeId) reject('attestation_rejected', 'attestation rejected', 'unknown or already used challenge');
      if ((ch!.kind ?? 'tpm') !== proof.method) reject('attestation_rejected', 'attestation rejected', `a ${ch!.kind ?? 'tpm'} challenge answered as ${proof.method}`);
      if (ch!.expiresAt <= now) reject('attestation_rejected', 'attestation rejected', 'challenge expired');
      if (!constantTimeEqualHex(proof.secretSha256, ch!.secretSha256)) reject('attestation_rejected', 'attestation rejected', proof.method === 'tpm' ? 'activated credential does not match (another TPM or a tampered blob)' : 'certificate is not the challenged one');
      if (ch!.quoteRequired && proof.quotedAkName === undefined) reject('attestation_rejected', 'attestation rejected', 'PCR policy requires a quote');
      if (proof.quotedAkName !== undefined && proof.quotedAkName !== ch!.akName) reject('attestation_rejected', 'attestation rejected', 'quote signed by another key than the challenged AK');
      if (state.reservation?.proofKey === `tpm:${ch!.id}`) reject('attestation_rejected', 'attestation rejected', 'challenge in use by a concurrent enrollment');
      proofKey = `tpm:${ch!.id}`;
      break;
    }
  }
  if (state.reservation !== null && state.reservation.until > now) reject('conflict', 'another enrollment of this machine is in progress', 'concurrent enrollment');
  return {
    state: { ...counted, reservation: { id: reservationId, method: proof.method, proofKey, until: now + RESERVATION_MS } },
    policy: { groups: reg.groups, labels: reg.labels, tokenTtlSeconds: reg.tokenTtlSeconds },
  };
}

/** The minted token becomes the one live token; the previous one is owed a delete. */
export function commitEnrollment(
  state: MachineState | null,
  reservationId: string,
  minted: LiveToken,
  usedJwt: { jtiSha256: string; exp: number } | null,
  now: number,
): { state: MachineState; tokensToDelete: TokenRef[] } {
  // The reservation lapsed or the machine was revoked meanwhile: the new token is owed a delete.
  const owe = (s: MachineState | null): MachineState | null => (s === null ? null : { ...s, pendingDeletes: [...s.pendingDeletes, ref(minted)] });
  if (state === null || state.reservation?.id !== reservationId) {
    throw new RejectionWithState(new AppError('conflict', 'the enrollment was superseded', { reason: 'reservation lost before commit' }), owe(state), [ref(minted)]);
  }
  if (state.revokedAt !== null) throw new RejectionWithState(new AppError('machine_revoked', 'this machine has been revoked'), owe(state), [ref(minted)]);
  const previous = state.liveToken ? [ref(state.liveToken)] : [];
  const usedJwts = Object.fromEntries(Object.entries(state.usedJwts).filter(([, exp]) => exp > now));
  if (usedJwt) usedJwts[usedJwt.jtiSha256] = usedJwt.exp;
  const tokensToDelete = [...state.pendingDeletes, ...previous];
  return {
    tokensToDelete,
    state: {
      ...state,
      reservation: null,
      liveToken: minted,
      pendingDeletes: tokensToDelete,
      usedJwts,
      codeUsedAt: state.reservation.method === 'code' ? now : state.codeUsedAt,
      // A challenge answers once: committed or not, it is gone.
      challenge: state.reservation.method === 'tpm' || state.reservation.method === 'x509' ? null : (state.challenge ?? null),
      lastEnrolledAt: now,
      updatedAt: now,
    },
  };
}

/** Frees the reservation; `owed` is a token whose create was ambiguous: owed a delete-if-exists. */
export function releaseEnrollment(state: MachineState | null, reservationId: string, owed?: TokenRef | null): MachineState | null {
  const s = state && owed && !state.pendingDeletes.some((t) => t.id === owed.id) ? { ...state, pendingDeletes: [...state.pendingDeletes, owed] } : state;
  if (s === null || s.reservation?.id !== reservationId) return s;
  return { ...s, reservation: null };
}

/** Tokens the cluster has confirmed gone (or never had) leave the books. */
export function confirmDeleted(state: MachineState | null, ids: readonly string[]): MachineState | null {
  if (state === null) return null;
  return {
    ...state,
    pendingDeletes: state.pendingDeletes.filter((t) => !ids.includes(t.id)),
    liveToken: state.liveToken && ids.includes(state.liveToken.id) ? null : state.liveToken,
  };
}

/** Tokens to delete now: those owed a delete, and the live one once expired. */
export function dueForDeletion(state: MachineState | null, now: number): TokenRef[] {
  if (state === null) return [];
  const expired = state.liveToken && state.liveToken.expiresAt !== null && state.liveToken.expiresAt <= now ? [ref(state.liveToken)] : [];
  return [...state.pendingDeletes, ...expired];
}

/** When the alarm should next fire, or null. */
export function nextAlarmAt(state: MachineState | null, now: number, retryMs: number): number | null {
  if (state === null) return null;
  if (state.pendingDeletes.length > 0) return now + retryMs;
  return state.liveToken?.expiresAt ?? null;
}

/** A rejection that must still persist `state` (attempt counting) or clean up `tokensToDelete`. */
export class RejectionWithState extends Error {
  constructor(
    readonly error: AppError,
    readonly state: MachineState | null,
    readonly tokensToDelete: readonly TokenRef[] = [],
  ) {
    super(error.message);
    this.name = 'RejectionWithState';
  }
}

function ref(t: TokenRef): TokenRef {
  return { id: t.id, uid: t.uid };
}

/** Compares two hex digests without an early exit on the first difference. */
export function constantTimeEqualHex(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}
