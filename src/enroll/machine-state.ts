// The per-machine state machine behind the invariants of DESIGN.md §4, as pure functions over a
// JSON document: registration, revocation, single-use proofs (reserve → commit | release), the
// one live token, and tokens owed a delete. Adapters (Durable Object, memory) load, apply, save;
// because nothing here awaits, each apply is atomic inside a Durable Object.
import { AppError } from '../errors.ts';
import { CHALLENGE_TTL_MS, type ChallengeRecord } from './challenge-record.ts';

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
  /** The token Secret's creationTimestamp (API server clock, ms) where known, else ours. */
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
  /** A proof being used right now; it lapses at `until` (a client gone mid-mint blocks nothing for good). */
  readonly reservation: { readonly id: string; readonly method: string; readonly proofKey: string; readonly until: number; readonly challengeExpiresAt?: number } | null;
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
  /** Type of that event: at the same occurrence time a revocation wins over a registration. */
  readonly lastFleetEventType?: FleetEvent['type'] | null;
  /**
   * Id of that event: a delivery of the same event (its id already forgotten by the event log,
   * after the audit retention) is never applied twice.
   */
  readonly lastFleetEventId?: string | null;
  /** Challenges answered (id → their expiry, ms), kept until then: each answers once. */
  readonly usedChallenges?: Readonly<Record<string, number>>;
  /** Challenges issued before this time (a revocation, a new EK or certificate) answer nothing. */
  readonly challengesNotBefore?: number | null;
  /** What the join watch learnt (src/enroll/join-state.ts owns its transitions). */
  readonly join?: JoinRecord | null;
  /**
   * The Idempotency-Key of the last enrollment (idempotency.ts owns it). Registration, revocation
   * and the join end it: a retry window never outlives the enrollment it was for.
   */
  readonly idempotency?: IdempotencyRecord | null;
}

export interface IdempotencyRecord {
  readonly keySha256: string;
  /** What the proof was: the code hash, the JWT id hash, or challenge id + secret hash. */
  readonly proofDigest: string;
  /** Retries with this key and proof are accepted until then; fixed at the first answer. */
  readonly until: number;
  /** The reservation this key holds right now (an attempt still minting), or null. */
  readonly reservationId: string | null;
  /** True once an attempt under this key was answered: later retries never extend `until`. */
  readonly answered?: boolean;
}

/** The machine's Node and the outcome of its latest token (join-state.ts). */
export interface JoinRecord {
  readonly node: { readonly name: string; readonly uid: string; readonly joinedAt: number } | null;
  /** The token the outcome is about: `joined` (consumed by the join) or `expired` (no join). */
  readonly tokenId: string | null;
  readonly outcome: 'joined' | 'expired' | null;
  /** The enrollment method of the token the Node joined with (`…/method` label). */
  readonly method: string | null;
  /** The Node uid the attested labels were last applied to, and the label set applied. */
  readonly labelledUid: string | null;
  readonly labelsApplied: Readonly<Record<string, string>> | null;
  /** A Node of this name that predated the awaited token and is not this machine's (audited once). */
  readonly conflict?: { readonly uid: string; readonly tokenId: string; readonly at: number } | null;
  readonly updatedAt: number;
}

export { CHALLENGE_TTL_MS, validateChallengeable, type ChallengeRecord } from './challenge-record.ts';

export type FleetEvent = ({ readonly type: 'machine.registered'; readonly registration: MachineRegistration; readonly at: number } | { readonly type: 'machine.revoked'; readonly at: number }) & {
  /** The webhook event's id, when it came from one. */
  readonly eventId?: string;
};

export type Proof =
  | { readonly method: 'code'; readonly codeSha256: string }
  | { readonly method: 'jwt'; readonly jtiSha256: string; readonly exp: number; readonly issuer: string; readonly subject: string }
  | {
      readonly method: 'tpm' | 'x509';
      /** The challenge as the ChallengeStore holds it (looked up by the id the machine sent). */
      readonly challenge: ChallengeRecord;
      /** tpm: SHA-256 of the activated credential; x509: SHA-256 of the certificate that signed. */
      readonly secretSha256: string;
      /** Hex AK name, set when a quote by that AK was verified. */
      readonly quotedAkName?: string;
    };

export interface EnrollPolicy {
  readonly groups: readonly string[] | null;
  readonly labels: Readonly<Record<string, string>>;
  readonly tokenTtlSeconds: number | null;
}

export const RESERVATION_MS = 60_000;
export const MACHINE_RATE_WINDOW_MS = 60_000;
export const MACHINE_RATE_MAX_ATTEMPTS = 10;
/** Fleet events may claim an occurrence time at most this far ahead (the signature's tolerance). */
export const FLEET_EVENT_MAX_FUTURE_MS = 5 * 60_000;

export function applyRegistration(state: MachineState | null, reg: MachineRegistration, now: number): { state: MachineState; created: boolean } {
  if (state === null) {
    return {
      created: true,
      state: { version: 1, registration: reg, createdAt: now, updatedAt: now, revokedAt: null, codeUsedAt: null, reservation: null, liveToken: null, pendingDeletes: [], usedJwts: {}, attempts: [], lastEnrolledAt: null },
    };
  }
  // A new code is a new single use; re-registering a revoked machine is an explicit reinstatement.
  const newCode = reg.enrollmentCodeSha256 !== null && reg.enrollmentCodeSha256 !== state.registration.enrollmentCodeSha256;
  // Challenges sealed to an EK or certificate that is no longer this machine's die with it.
  const newIdentity = reg.ekPublicKeySha256 !== state.registration.ekPublicKeySha256 || reg.certificateSha256 !== state.registration.certificateSha256;
  return {
    created: false,
    state: {
      ...state,
      registration: reg,
      updatedAt: now,
      revokedAt: null,
      codeUsedAt: newCode ? null : state.codeUsedAt,
      // A registration starts afresh: a reservation left by a client that vanished mid-mint is dropped
      // (its commit, if it ever comes, fails and its token is owed a delete).
      reservation: null,
      challengesNotBefore: newIdentity ? now : (state.challengesNotBefore ?? null),
      idempotency: null,
    },
  };
}

/**
 * A fleet system's event, applied in occurrence order per machine: an event older than the last
 * one applied changes nothing. A revocation of an unknown machine leaves a revoked tombstone
 * so that an older, late `registered` cannot bring the machine back.
 */
export function applyFleetEvent(state: MachineState | null, id: string, event: FleetEvent, now: number): { state: MachineState | null; applied: boolean; tokensToDelete: TokenRef[] } {
  // An occurrence time far ahead would make every later event stale: refused, like a signature
  // outside its tolerance. A stored one from before this rule is capped the same way.
  if (event.at > now + FLEET_EVENT_MAX_FUTURE_MS) throw new AppError('invalid_request', 'occurredAt is too far in the future', { reason: `occurredAt ${event.at - now} ms ahead` });
  const stored = state?.lastFleetEventAt ?? null;
  const last = stored === null ? null : Math.min(stored, now + FLEET_EVENT_MAX_FUTURE_MS);
  if (last !== null && event.at < last) return { state, applied: false, tokensToDelete: [] };
  // The last applied event itself, delivered again: stale, whether or not the event log still
  // remembers its id (it forgets ids after the audit retention).
  if (last !== null && event.at === last && event.eventId !== undefined && event.eventId === state?.lastFleetEventId) return { state, applied: false, tokensToDelete: [] };
  // At the same occurrence time a revocation wins: a registration never undoes it.
  if (last !== null && event.at === last && event.type === 'machine.registered' && state?.lastFleetEventType === 'machine.revoked') return { state, applied: false, tokensToDelete: [] };
  if (event.type === 'machine.registered') {
    const { state: next } = applyRegistration(state, event.registration, now);
    return { state: { ...next, lastFleetEventAt: event.at, lastFleetEventType: event.type, lastFleetEventId: event.eventId ?? null }, applied: true, tokensToDelete: [] };
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
  return { state: { ...revoked, lastFleetEventAt: event.at, lastFleetEventType: event.type, lastFleetEventId: event.eventId ?? null }, applied: true, tokensToDelete };
}

export function applyRevocation(state: MachineState | null, now: number): { state: MachineState; tokensToDelete: TokenRef[] } {
  if (state === null) throw new AppError('machine_unknown', 'no such machine');
  const tokensToDelete = [...state.pendingDeletes, ...(state.liveToken ? [ref(state.liveToken)] : [])];
  return {
    tokensToDelete,
    state: { ...state, revokedAt: state.revokedAt ?? now, updatedAt: now, liveToken: null, reservation: null, pendingDeletes: tokensToDelete, challengesNotBefore: now, idempotency: null },
  };
}

/**
 * Checks a proof against the machine's registration and reserves it (single use). Every refusal a
 * caller without the proof can provoke (unknown machine, revoked, wrong code or challenge) is the
 * same `attestation_rejected`; the precise reason goes to the audit. Attempts count toward the
 * per-machine limit only once the proof holds, so nobody without it can lock the machine out.
 */
export function reserveEnrollment(
  state: MachineState | null,
  proof: Proof,
  reservationId: string,
  now: number,
): { state: MachineState; policy: EnrollPolicy } {
  const reject = (code: 'attestation_rejected' | 'code_used' | 'conflict', message: string, reason: string): never => {
    throw new AppError(code, message, { reason });
  };
  const refuse = (reason: string): never => reject('attestation_rejected', 'attestation rejected', reason);
  if (state === null) return refuse('no registration for this machine');
  if (state.revokedAt !== null) refuse('machine revoked');
  const reg = state.registration;
  // A reservation past its lease blocks nothing.
  const reservation = state.reservation !== null && state.reservation.until > now ? state.reservation : null;
  let proofKey: string;
  let challengeExpiresAt: number | undefined;
  switch (proof.method) {
    case 'code': {
      if (reg.enrollmentCodeSha256 === null) refuse('no enrollment code registered');
      if (!constantTimeEqualHex(proof.codeSha256, reg.enrollmentCodeSha256!)) refuse('enrollment code mismatch');
      if (reg.enrollmentCodeExpiresAt !== null && reg.enrollmentCodeExpiresAt <= now) refuse('enrollment code expired');
      if (state.codeUsedAt !== null) reject('code_used', 'this enrollment code has already been used', 'code already used');
      if (reservation?.method === 'code') reject('code_used', 'this enrollment code has already been used', 'code in use by a concurrent enrollment');
      proofKey = `code:${reg.enrollmentCodeSha256}`;
      break;
    }
    case 'jwt': {
      // Off unless a subject is registered, and the subject is only ever matched with its issuer.
      if (reg.jwtSubject === null) refuse('no jwtSubject registered: the jwt method is off for this machine');
      if (reg.jwtSubject !== `${proof.issuer}|${proof.subject}`) refuse('jwt subject does not match the registration');
      const used = state.usedJwts[proof.jtiSha256];
      if ((used !== undefined && used > now) || reservation?.proofKey === `jwt:${proof.jtiSha256}`) refuse('jwt replayed');
      proofKey = `jwt:${proof.jtiSha256}`;
      break;
    }
    case 'tpm':
    case 'x509': {
      const ch = proof.challenge;
      if (ch.machineId !== reg.id) refuse('challenge issued for another machine');
      if (ch.kind !== proof.method) refuse(`a ${ch.kind} challenge answered as ${proof.method}`);
      if (ch.expiresAt <= now) refuse('challenge expired');
      const used = state.usedChallenges?.[ch.id];
      if (used !== undefined) refuse('challenge already used');
      if (state.challengesNotBefore != null && ch.issuedAt < state.challengesNotBefore) refuse('challenge issued before a revocation or a change of EK or certificate');
      if (ch.kind === 'tpm' && ch.ekSha256 !== reg.ekPublicKeySha256) refuse('challenge sealed to an EK that is not the registered one');
      if (ch.kind === 'x509' && ch.secretSha256 !== reg.certificateSha256) refuse('challenge for a certificate that is not the registered one');
      if (!constantTimeEqualHex(proof.secretSha256, ch.secretSha256)) refuse(proof.method === 'tpm' ? 'activated credential does not match (another TPM or a tampered blob)' : 'certificate is not the challenged one');
      if (ch.quoteRequired && proof.quotedAkName === undefined) refuse('PCR policy requires a quote');
      if (proof.quotedAkName !== undefined && proof.quotedAkName !== ch.akName) refuse('quote signed by another key than the challenged AK');
      if (reservation?.proofKey === `tpm:${ch.id}`) refuse('challenge in use by a concurrent enrollment');
      proofKey = `tpm:${ch.id}`;
      challengeExpiresAt = ch.expiresAt;
      break;
    }
  }
  // The proof holds: only now does the attempt count toward this machine's limit.
  const attempts = state.attempts.filter((t) => t > now - MACHINE_RATE_WINDOW_MS);
  if (attempts.length >= MACHINE_RATE_MAX_ATTEMPTS) {
    const retry = Math.ceil((attempts[0]! + MACHINE_RATE_WINDOW_MS - now) / 1000);
    throw new AppError('rate_limited', 'too many enrollment attempts for this machine', { reason: `machine rate limit: ${attempts.length} attempts in 60 s`, retryAfterSeconds: Math.max(1, retry) });
  }
  if (reservation !== null) reject('conflict', 'another enrollment of this machine is in progress', 'concurrent enrollment');
  return {
    state: { ...state, attempts: [...attempts, now], reservation: { id: reservationId, method: proof.method, proofKey, until: now + RESERVATION_MS, ...(challengeExpiresAt !== undefined ? { challengeExpiresAt } : {}) } },
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
  if (state.revokedAt !== null) throw new RejectionWithState(new AppError('attestation_rejected', 'attestation rejected', { reason: 'machine revoked while minting' }), owe(state), [ref(minted)]);
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
      // A challenge answers once: remembered until it would have expired anyway.
      usedChallenges: usedChallengesAfter(state, now),
      lastEnrolledAt: now,
      updatedAt: now,
    },
  };
}

/** Frees the reservation; `owed` is a token whose create was ambiguous: owed a delete-if-exists. */
export function releaseEnrollment(state: MachineState | null, reservationId: string, owedIn?: TokenRef | readonly TokenRef[] | null): MachineState | null {
  const owedList: readonly TokenRef[] = owedIn == null ? [] : 'id' in owedIn ? [owedIn as TokenRef] : (owedIn as readonly TokenRef[]);
  const fresh = owedList.filter((o, i) => !state?.pendingDeletes.some((t) => t.id === o.id) && owedList.findIndex((x) => x.id === o.id) === i);
  const owed = owedList.length > 0 ? owedList : null;
  const s = state && fresh.length > 0 ? { ...state, pendingDeletes: [...state.pendingDeletes, ...fresh] } : state;
  if (s === null || s.reservation?.id !== reservationId) return s;
  // Nothing was minted: the attempt this reservation counted is taken back, so a machine that
  // waits out cluster_busy or an outage with its valid proof is never rate-limited for it. An
  // ambiguous create (owed) may have landed a Secret: that attempt stays counted.
  const reservedAt = s.reservation.until - RESERVATION_MS;
  const i = owed ? -1 : s.attempts.lastIndexOf(reservedAt);
  return { ...s, reservation: null, attempts: i < 0 ? s.attempts : [...s.attempts.slice(0, i), ...s.attempts.slice(i + 1)] };
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

function usedChallengesAfter(state: MachineState, now: number): Record<string, number> {
  const kept = Object.fromEntries(Object.entries(state.usedChallenges ?? {}).filter(([, exp]) => exp > now));
  const r = state.reservation;
  if (r !== null && r.proofKey.startsWith('tpm:')) kept[r.proofKey.slice(4)] = r.challengeExpiresAt ?? now + CHALLENGE_TTL_MS;
  return kept;
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
