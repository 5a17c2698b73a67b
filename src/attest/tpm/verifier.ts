// `{"method":"tpm","challengeId","secret"}`: the activated credential, as a single-use proof for
// the machine named in the challenge id. Whether it matches is the machine store's decision.
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { AppError } from '../../errors.ts';
import { decodeBase64 } from '../../pki/index.ts';
import { MACHINE_ID_PATTERN, type EvidenceVerifier } from '../evidence.ts';

export function createTpmVerifier(): EvidenceVerifier {
  return {
    method: 'tpm',
    async verify(body) {
      const id = body.challengeId;
      const m = typeof id === 'string' && id.length <= 200 ? /^[0-9a-f-]{36}:(.+)$/.exec(id) : null;
      if (!m || !MACHINE_ID_PATTERN.test(m[1]!)) throw new AppError('invalid_request', 'challengeId is malformed');
      const secret = typeof body.secret === 'string' && body.secret.length <= 128 ? decodeBase64(body.secret) : null;
      if (!secret || secret.length === 0 || secret.length > 64) throw new AppError('invalid_request', 'secret must be the base64 of the activated credential');
      return { machineId: m[1]!, proof: { method: 'tpm', challengeId: id as string, secretSha256: bytesToHex(sha256(secret)) }, usedJwt: null };
    },
  };
}
