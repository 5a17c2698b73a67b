// What every evidence verifier returns: the machine it proves and the single-use proof the
// machine's store checks. TPM and x509 verifiers slot in beside code and jwt with the same shape.
import type { Proof } from '../enroll/machine-state.ts';
import { AppError } from '../errors.ts';

export interface VerifiedEvidence {
  readonly machineId: string;
  readonly proof: Proof;
  /** Set for JWTs: recorded as used until `exp`. */
  readonly usedJwt: { readonly jtiSha256: string; readonly exp: number } | null;
}

export interface EvidenceVerifier {
  readonly method: string;
  verify(body: Readonly<Record<string, unknown>>, now: Date): Promise<VerifiedEvidence>;
}

export const MACHINE_ID_PATTERN = /^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$/;

export function parseMachineId(v: unknown, field = 'machineId'): string {
  if (typeof v !== 'string' || !MACHINE_ID_PATTERN.test(v)) {
    throw new AppError('invalid_request', `${field} must match [a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?`);
  }
  return v;
}

/** A challenge id as issued: opaque, no machine id in it (a UUID today; any id of this charset). */
export const CHALLENGE_ID_PATTERN = /^[A-Za-z0-9_-]{16,64}$/;

export function parseChallengeId(v: unknown): string {
  if (typeof v !== 'string' || !CHALLENGE_ID_PATTERN.test(v)) throw new AppError('invalid_request', 'challengeId is malformed');
  return v;
}

/** Every attestation failure looks the same to the caller; the reason goes to the audit log. */
export function rejected(reason: string, cause?: unknown): AppError {
  return new AppError('attestation_rejected', 'attestation rejected', { reason, cause });
}
