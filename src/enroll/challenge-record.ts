// An open TPM or device-certificate challenge as the ChallengeStore keeps it, and who may be sent
// one. Pure: no storage here (ports in src/store), no single-use bookkeeping (machine-state.ts).
import { AppError } from '../errors.ts';

export const CHALLENGE_TTL_MS = 5 * 60_000;

/**
 * An open TPM or device-certificate challenge. It lives in the ChallengeStore under its opaque
 * id, not in the machine's document: opening challenges (the EK and device certificates are
 * public) cannot replace or evict a legitimate prover's challenge. Single use is recorded here,
 * in the machine's document, when an answer commits.
 */
export interface ChallengeRecord {
  readonly id: string;
  readonly machineId: string;
  readonly kind: 'tpm' | 'x509';
  /** tpm: SHA-256 of the credential sealed to the EK; x509: SHA-256 of the challenged certificate DER. */
  readonly secretSha256: string;
  /** tpm: SHA-256 of the EK SubjectPublicKeyInfo the credential was sealed to; x509: ''. */
  readonly ekSha256: string;
  /** Hex name of the AK the credential was bound to (tpm). */
  readonly akName?: string;
  readonly quoteRequired?: boolean;
  readonly issuedAt: number;
  readonly expiresAt: number;
}

/** Whether this machine may be sent a challenge: registered and not revoked (one refusal for both). */
export function validateChallengeable(view: { readonly revokedAt: number | null } | null, machineId: string): void {
  if (view === null) throw new AppError('attestation_rejected', 'attestation rejected', { reason: `no registration for ${machineId}` });
  if (view.revokedAt !== null) throw new AppError('attestation_rejected', 'attestation rejected', { reason: `machine ${machineId} revoked` });
}
