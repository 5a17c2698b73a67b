// Device certificates: the machine proves possession of the key of a certificate that chains to
// DEVICE_CA_PEM (clientAuth) and whose SHA-256 is registered as `certificateSha256`.
// `POST /v1/enroll/challenge {"method":"x509","machineId","certificate","chain"?}` opens a
// single-use challenge; `POST /v1/enroll {"method":"x509","challengeId","certificate","chain"?,
// "signature"}` carries a signature over the challenge nonce (`openssl dgst -sha256 -sign`).
// Cloudflare mTLS (`request.cf.tlsClientAuth`) is not used here.
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { CHALLENGE_TTL_MS, validateChallengeable } from '../enroll/machine-state.ts';
import { AppError } from '../errors.ts';
import { formatExpiration } from '../token/index.ts';
import { CertificateParseError, decodeBase64, EKU_CLIENT_AUTH, parseCertificate, verifyCertificateChain, verifyDataSignature, type ParsedCertificate } from '../pki/index.ts';
import type { ChallengeStore, MachineStore } from '../store/ports.ts';
import { parseChallengeId, parseMachineId, rejected, type EvidenceVerifier } from './evidence.ts';

export interface DeviceTrust {
  readonly roots: ParsedCertificate[];
  readonly intermediates: ParsedCertificate[];
}

const MAX_CHAIN = 4;

/** The nonce a device signs: SHA-256 of the challenge id (unpredictable before it is issued). */
export function x509NonceHex(challengeId: string): string {
  return bytesToHex(sha256(new TextEncoder().encode(`x509:${challengeId}`)));
}

/** Parses and chain-verifies the device certificate; returns it and its SHA-256 (hex of the DER). */
export async function verifyDeviceCertificate(body: Readonly<Record<string, unknown>>, trust: DeviceTrust, now: Date): Promise<{ cert: ParsedCertificate; sha256: string }> {
  const der = typeof body.certificate === 'string' && body.certificate.length <= 8192 ? decodeBase64(body.certificate) : null;
  if (!der || der.length === 0) throw new AppError('invalid_request', 'certificate must be the base64 DER of the device certificate');
  const chainRaw = body.chain ?? [];
  if (!Array.isArray(chainRaw) || chainRaw.length > MAX_CHAIN || !chainRaw.every((c) => typeof c === 'string' && c.length <= 8192)) throw new AppError('invalid_request', `chain must be a list of at most ${MAX_CHAIN} base64 DER certificates`);
  if (trust.roots.length === 0) throw rejected('x509: no DEVICE_CA_PEM configured');
  let cert: ParsedCertificate;
  const intermediates = [...trust.intermediates];
  try {
    cert = parseCertificate(der);
    for (const c of chainRaw as string[]) {
      const d = decodeBase64(c);
      if (!d) throw new AppError('invalid_request', 'chain entries must be base64 DER');
      intermediates.push(parseCertificate(d));
    }
  } catch (err) {
    if (err instanceof CertificateParseError) throw rejected(`x509: ${err.message}`, err);
    throw err;
  }
  const chains = await verifyCertificateChain(cert, { roots: trust.roots, intermediates, now, keyUsage: EKU_CLIENT_AUTH });
  if (chains.length === 0) throw rejected('x509: certificate does not chain to DEVICE_CA_PEM for clientAuth at this time');
  return { cert, sha256: bytesToHex(sha256(der)) };
}

export async function issueX509Challenge(
  body: Readonly<Record<string, unknown>>,
  deps: { machines: MachineStore; challenges: ChallengeStore; trust: DeviceTrust; now: () => Date; newId: () => string },
): Promise<{ machineId: string; challengeId: string; nonce: string; expiresAt: string }> {
  const machineId = parseMachineId(body.machineId);
  const now = deps.now();
  const { sha256: certSha256 } = await verifyDeviceCertificate(body, deps.trust, now);
  const machine = await deps.machines.get(machineId);
  validateChallengeable(machine, machineId);
  if (machine!.certificateSha256 !== certSha256) throw rejected('x509: certificate is not the one registered for this machine');
  const challengeId = deps.newId();
  // The challenge's "secret" is the certificate hash: the proof must come with that certificate.
  await deps.challenges.put({ id: challengeId, machineId, kind: 'x509', secretSha256: certSha256, ekSha256: '', issuedAt: now.getTime(), expiresAt: now.getTime() + CHALLENGE_TTL_MS });
  return { machineId, challengeId, nonce: x509NonceHex(challengeId), expiresAt: formatExpiration(new Date(now.getTime() + CHALLENGE_TTL_MS)) };
}

export function createX509Verifier(trust: DeviceTrust, challenges: ChallengeStore): EvidenceVerifier {
  return {
    method: 'x509',
    async verify(body, now) {
      const id = parseChallengeId(body.challengeId);
      const signature = typeof body.signature === 'string' && body.signature.length <= 1024 ? decodeBase64(body.signature) : null;
      if (!signature || signature.length === 0) throw new AppError('invalid_request', 'signature must be base64');
      const { cert, sha256: certSha256 } = await verifyDeviceCertificate(body, trust, now);
      const nonce = hexToBytes(x509NonceHex(id)) as Uint8Array<ArrayBuffer>;
      if (!(await verifyDataSignature(cert, nonce, signature))) throw rejected('x509: signature over the challenge does not verify with the certificate key');
      // Single use and the certificate binding are the machine store's checks (as for the TPM).
      const challenge = await challenges.get(id);
      if (challenge === null) throw rejected('x509: unknown or expired challenge');
      return { machineId: challenge.machineId, proof: { method: 'x509', challenge, secretSha256: certSha256 }, usedJwt: null };
    },
  };
}
