// The one error every TPM structure parser and check in this folder throws on untrusted input:
// code 'attestation_rejected' for the caller, the precise `reason` kept for logs. No HTTP here.
import { AppError } from '../../errors.ts';

export class TpmRejectedError extends AppError {
  constructor(reason: string, cause?: unknown) {
    super('attestation_rejected', 'attestation rejected', { reason, cause });
    this.name = 'TpmRejectedError';
  }
}

export const tpmRejected = (reason: string, cause?: unknown): TpmRejectedError => new TpmRejectedError(reason, cause);
