// `{"method":"tpm","challengeId","secret"}`: the activated credential, as a single-use proof for
// the machine the challenge was issued to (looked up by its opaque id). Whether it matches is the
// machine store's decision.
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { AppError } from '../../errors.ts';
import { decodeBase64 } from '../../pki/index.ts';
import type { ChallengeStore } from '../../store/ports.ts';
import { parseChallengeId, rejected, type EvidenceVerifier } from '../evidence.ts';
import { quoteNonceHex } from './challenge.ts';
import { verifyQuote, type PcrPolicy } from './quote.ts';
import { computeTpmName, parseTpm2bPublic } from './tpm-public.ts';
import { hexToBytes } from '@noble/hashes/utils.js';

export function createTpmVerifier(challenges: ChallengeStore, policy: PcrPolicy | null = null): EvidenceVerifier {
  return {
    method: 'tpm',
    async verify(body) {
      const id = parseChallengeId(body.challengeId);
      const secret = typeof body.secret === 'string' && body.secret.length <= 128 ? decodeBase64(body.secret) : null;
      if (!secret || secret.length === 0 || secret.length > 64) throw new AppError('invalid_request', 'secret must be the base64 of the activated credential');
      let quotedAkName: string | undefined;
      if (policy) {
        // `{"quote":{"message","signature"},"akPublic"}`: tpm2_quote -m / -s output and the AK, base64.
        const q = body.quote as { message?: unknown; signature?: unknown } | undefined;
        const dec = (v: unknown, max: number) => (typeof v === 'string' && v.length <= max ? decodeBase64(v) : null);
        const message = dec(q?.message, 2048);
        const signature = dec(q?.signature, 2048);
        const akBytes = dec(body.akPublic, 2048);
        if (!message || !signature || !akBytes) throw rejected('quote: missing quote.message, quote.signature or akPublic');
        const ak = parseTpm2bPublic(akBytes);
        await verifyQuote(ak, message, signature, hexToBytes(quoteNonceHex(id)), policy);
        quotedAkName = bytesToHex(computeTpmName(ak));
      }
      const challenge = await challenges.get(id);
      if (challenge === null) throw rejected('unknown or expired challenge');
      return { machineId: challenge.machineId, proof: { method: 'tpm', challenge, secretSha256: bytesToHex(sha256(secret)), ...(quotedAkName ? { quotedAkName } : {}) }, usedJwt: null };
    },
  };
}
