// One-time enrollment codes: `{"method":"code","machineId","code"}` → a proof carrying only the
// code's SHA-256. Whether it matches, is unused and unexpired is the machine store's decision.
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { AppError } from '../errors.ts';
import { parseMachineId, type EvidenceVerifier } from './evidence.ts';

export const ENROLLMENT_CODE_MIN_LENGTH = 16;
export const ENROLLMENT_CODE_MAX_LENGTH = 256;

export function hashEnrollmentCode(code: string): string {
  return bytesToHex(sha256(new TextEncoder().encode(code)));
}

export function parseEnrollmentCode(v: unknown, field = 'code'): string {
  if (typeof v !== 'string' || v.length < ENROLLMENT_CODE_MIN_LENGTH || v.length > ENROLLMENT_CODE_MAX_LENGTH || !/^[\x21-\x7e]+$/.test(v)) {
    throw new AppError('invalid_request', `${field} must be ${ENROLLMENT_CODE_MIN_LENGTH}–${ENROLLMENT_CODE_MAX_LENGTH} printable ASCII characters`);
  }
  return v;
}

export function createCodeVerifier(): EvidenceVerifier {
  return {
    method: 'code',
    async verify(body) {
      const machineId = parseMachineId(body.machineId);
      const code = parseEnrollmentCode(body.code);
      return { machineId, proof: { method: 'code', codeSha256: hashEnrollmentCode(code) }, usedJwt: null };
    },
  };
}
