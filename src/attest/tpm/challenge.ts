// The TPM challenge: `POST /v1/enroll/challenge` → EK checked (certificate chain or registered
// key), machine found by its EK, AK checked (restricted signing key, name computed here), a fresh
// credential sealed to the EK for that AK name; only its SHA-256 is kept, for one use, under an
// opaque challenge id (it names no machine; the ChallengeStore maps it back).
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { CHALLENGE_TTL_MS, validateChallengeable } from '../../enroll/machine-state.ts';
import { AppError } from '../../errors.ts';
import { formatExpiration } from '../../token/index.ts';
import { decodeBase64, encodeBase64 } from '../../pki/index.ts';
import type { ChallengeStore, MachineIndex, MachineStore } from '../../store/ports.ts';
import { rejected } from '../evidence.ts';
import { parseEkPublicPem, verifyEkCertificate, type VerifiedEk } from './ek.ts';
import { ekFromSpki, makeCredential } from './make-credential.ts';
import { computeTpmName, parseTpm2bPublic, validateAttestationKey } from './tpm-public.ts';
import type { ParsedCertificate } from '../../pki/index.ts';

export const CREDENTIAL_BYTES = 32;

export interface ChallengeDeps {
  readonly machines: MachineStore;
  readonly index: MachineIndex;
  readonly challenges: ChallengeStore;
  readonly ekTrust: { roots: ParsedCertificate[]; intermediates: ParsedCertificate[] };
  readonly allowUnregistered: boolean;
  readonly quoteRequired: boolean;
  readonly now: () => Date;
  readonly newId: () => string;
}

export interface ChallengeResult {
  readonly machineId: string;
  readonly challengeId: string;
  readonly expiresAt: string;
  readonly credentialBlob: string;
  readonly encryptedSecret: string;
  readonly tpm2ToolsCredential: string;
  /** Hex qualifying data for `tpm2_quote -q` (SHA-256 of the challenge id). */
  readonly nonce: string;
}

const b64field = (body: Readonly<Record<string, unknown>>, field: string, max: number): Uint8Array<ArrayBuffer> | null => {
  const v = body[field];
  if (v === undefined) return null;
  const bytes = typeof v === 'string' && v.length <= max ? decodeBase64(v) : null;
  if (!bytes || bytes.length === 0) throw new AppError('invalid_request', `${field} must be base64 of at most ${Math.floor((max * 3) / 4)} bytes`);
  return bytes;
};

export async function issueTpmChallenge(body: Readonly<Record<string, unknown>>, deps: ChallengeDeps): Promise<ChallengeResult> {
  if (body.method !== 'tpm') throw new AppError('invalid_request', 'method must be "tpm"');
  const akBytes = b64field(body, 'akPublic', 2048);
  if (!akBytes) throw new AppError('invalid_request', 'akPublic is required');
  const ekCert = b64field(body, 'ekCert', 8192);
  const ekPub = body.ekPub;
  if ((ekCert === null) === (ekPub === undefined)) throw new AppError('invalid_request', 'exactly one of ekCert, ekPub is required');
  if (ekPub !== undefined && (typeof ekPub !== 'string' || ekPub.length > 4096)) throw new AppError('invalid_request', 'ekPub must be a PEM public key');

  const now = deps.now();
  const ek: VerifiedEk = ekCert ? await verifyEkCertificate(ekCert, deps.ekTrust, now) : parseEkPublicPem(ekPub as string);
  const ak = parseTpm2bPublic(akBytes);
  validateAttestationKey(ak);

  // The index keeps revoked machines' EKs: an EK that is any machine's never auto-registers anew.
  let machineId = await deps.index.findByEk(ek.sha256);
  if (machineId === null) {
    if (!ek.certified || !deps.allowUnregistered) throw rejected(`ek ${ek.sha256} not registered`);
    // A genuine TPM, allowed in without registration, gets an id derived from its EK.
    machineId = `tpm-${ek.sha256.slice(0, 20)}`;
    if ((await deps.machines.get(machineId)) === null) {
      const { machine } = await deps.machines.register({ id: machineId, enrollmentCodeSha256: null, enrollmentCodeExpiresAt: null, jwtSubject: null, ekPublicKeySha256: ek.sha256, certificateSha256: null, groups: null, labels: {}, tokenTtlSeconds: null }, now.getTime());
      await deps.index.upsert(machine);
    }
  }
  const machine = await deps.machines.get(machineId);
  validateChallengeable(machine, machineId);
  if (machine!.ekPublicKeySha256 !== ek.sha256) throw rejected(`ek: index points at ${machineId}, which is not registered with this EK`);

  const credential = crypto.getRandomValues(new Uint8Array(CREDENTIAL_BYTES));
  const akName = computeTpmName(ak);
  const made = await makeCredential({ ek: await ekFromSpki(ek.spki), akName, credential });
  const challengeId = deps.newId();
  await deps.challenges.put({
    id: challengeId,
    machineId,
    kind: 'tpm',
    secretSha256: bytesToHex(sha256(credential)),
    ekSha256: ek.sha256,
    akName: bytesToHex(akName),
    quoteRequired: deps.quoteRequired,
    issuedAt: now.getTime(),
    expiresAt: now.getTime() + CHALLENGE_TTL_MS,
  });
  return {
    machineId,
    challengeId,
    expiresAt: formatExpiration(new Date(now.getTime() + CHALLENGE_TTL_MS)),
    credentialBlob: encodeBase64(made.credentialBlob),
    encryptedSecret: encodeBase64(made.encryptedSecret),
    tpm2ToolsCredential: encodeBase64(made.tpm2ToolsFile),
    nonce: quoteNonceHex(challengeId),
  };
}

/** The quote's qualifying data: unpredictable before the challenge is issued, unique to it. */
export function quoteNonceHex(challengeId: string): string {
  return bytesToHex(sha256(new TextEncoder().encode(challengeId)));
}
