// Idempotency-Key (DESIGN.md §3): a machine whose answer was lost retries the same proof with the
// same key within IDEMPOTENCY_WINDOW_MS and is enrolled again — a fresh token, the earlier one owed
// a delete — while the same proof under another key (or none) stays a replay. A retry that
// arrives while the first attempt is still minting takes its reservation over: the first commit
// then fails and its token is owed a delete, so no Secret is left that no machine holds.
// Pure functions over the machine's state document; the key is only ever stored as its SHA-256.
import { AppError } from '../errors.ts';
import { commitEnrollment, constantTimeEqualHex, reserveEnrollment, type EnrollPolicy, type IdempotencyRecord, type LiveToken, type MachineState, type Proof, type TokenRef } from './machine-state.ts';

export type { IdempotencyRecord } from './machine-state.ts';

/** How long after an answer the same proof + key may enroll again. */
export const IDEMPOTENCY_WINDOW_MS = 5 * 60_000;
export const IDEMPOTENCY_KEY_MAX_LENGTH = 255;

/** The machine's state; its `idempotency` record is this module's. */
export type StateWithKey = MachineState;

/** Header value → accepted as is (1–255 printable ASCII characters) or refused. */
export function parseIdempotencyKey(value: string | null | undefined): string | null {
  if (value === null || value === undefined) return null;
  if (value.length < 1 || value.length > IDEMPOTENCY_KEY_MAX_LENGTH || !/^[\x21-\x7e]+$/.test(value)) {
    throw new AppError('invalid_request', `Idempotency-Key must be 1–${IDEMPOTENCY_KEY_MAX_LENGTH} printable ASCII characters`);
  }
  return value;
}

export function proofDigest(proof: Proof): string {
  switch (proof.method) {
    case 'code':
      return `code:${proof.codeSha256}`;
    case 'jwt':
      return `jwt:${proof.jtiSha256}`;
    default:
      return `${proof.method}:${proof.challenge.id}:${proof.secretSha256}`;
  }
}

function sameProof(rec: IdempotencyRecord, proof: Proof): boolean {
  const d = proofDigest(proof);
  return d.length === rec.proofDigest.length && constantTimeEqualHex(d, rec.proofDigest);
}

/** reserveEnrollment, plus: the same proof under the same key within the window is not a replay. */
export function reserveWithKey(state: StateWithKey | null, proof: Proof, reservationId: string, now: number, keySha256: string | null): { state: StateWithKey; policy: EnrollPolicy; retry: boolean } {
  const rec = state?.idempotency ?? null;
  if (state !== null && keySha256 !== null && rec !== null && rec.until > now && rec.keySha256 === keySha256 && sameProof(rec, proof)) {
    // Lift only this proof's "used" marks (and this key's own reservation); every other check runs.
    const usedJwts = { ...state.usedJwts };
    const usedChallenges = { ...(state.usedChallenges ?? {}) };
    if (proof.method === 'jwt') delete usedJwts[proof.jtiSha256];
    if (proof.method === 'tpm' || proof.method === 'x509') delete usedChallenges[proof.challenge.id];
    const ownReservation = state.reservation !== null && state.reservation.id === rec.reservationId;
    const lifted: MachineState = { ...state, codeUsedAt: proof.method === 'code' ? null : state.codeUsedAt, usedJwts, usedChallenges, reservation: ownReservation ? null : state.reservation };
    const r = reserveEnrollment(lifted, proof, reservationId, now);
    return {
      retry: true,
      policy: r.policy,
      state: { ...r.state, codeUsedAt: state.codeUsedAt, usedJwts: state.usedJwts, usedChallenges: state.usedChallenges ?? {}, idempotency: { ...rec, reservationId } },
    };
  }
  const r = reserveEnrollment(state, proof, reservationId, now);
  const idempotency: IdempotencyRecord | null = keySha256 === null ? null : { keySha256, proofDigest: proofDigest(proof), until: now + IDEMPOTENCY_WINDOW_MS, reservationId };
  // No key now and none before: the document is left as it was (a refusal after this burns nothing).
  const unchanged = idempotency === null && (state?.idempotency ?? null) === null;
  return { retry: false, policy: r.policy, state: unchanged ? r.state : { ...r.state, idempotency } };
}

/**
 * commitEnrollment; the first answer under a key opens its retry window (IDEMPOTENCY_WINDOW_MS from
 * now), and later retries never extend it: a used proof is not kept alive by retrying it.
 */
export function commitWithKey(state: StateWithKey | null, reservationId: string, minted: LiveToken, usedJwt: { jtiSha256: string; exp: number } | null, now: number): { state: StateWithKey; tokensToDelete: TokenRef[] } {
  const { state: next, tokensToDelete } = commitEnrollment(state, reservationId, minted, usedJwt, now);
  const rec = state?.idempotency ?? null;
  const idempotency = rec !== null && rec.reservationId === reservationId ? { ...rec, reservationId: null, until: rec.answered ? rec.until : now + IDEMPOTENCY_WINDOW_MS, answered: true } : (rec ?? null);
  return { state: { ...next, idempotency }, tokensToDelete };
}
