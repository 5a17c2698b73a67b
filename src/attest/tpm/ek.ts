// The EK a machine presents: its certificate must chain to a configured manufacturer root
// (TPM_EK_ROOTS_PEM; EK certificates carry a critical SAN and no serverAuth EKU, both tolerated),
// or, without a certificate, its public key must be one pre-registered by hash.
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { CertificateParseError, parseCertificate, parsePemBlocks, verifyCertificateChain, type ParsedCertificate } from '../../pki/index.ts';
import { rejected } from '../evidence.ts';

export interface VerifiedEk {
  readonly spki: Uint8Array<ArrayBuffer>;
  /** Hex SHA-256 of the SubjectPublicKeyInfo DER: what `ekPublicKeySha256` registers. */
  readonly sha256: string;
  readonly certified: boolean;
}

export function parseEkRoots(pem: string | null): { roots: ParsedCertificate[]; intermediates: ParsedCertificate[] } {
  const roots: ParsedCertificate[] = [];
  const intermediates: ParsedCertificate[] = [];
  for (const b of parsePemBlocks(pem ?? '')) {
    if (b.type !== 'CERTIFICATE') continue;
    const c = parseCertificate(b.der);
    const selfSigned = c.rawSubject.length === c.rawIssuer.length && c.rawSubject.every((x, i) => x === c.rawIssuer[i]);
    (selfSigned ? roots : intermediates).push(c);
  }
  return { roots, intermediates };
}

export async function verifyEkCertificate(der: Uint8Array<ArrayBuffer>, trust: { roots: ParsedCertificate[]; intermediates: ParsedCertificate[] }, now: Date): Promise<VerifiedEk> {
  if (trust.roots.length === 0) throw rejected('ek: no TPM_EK_ROOTS_PEM configured');
  let cert: ParsedCertificate;
  try {
    cert = parseCertificate(der);
  } catch (err) {
    if (err instanceof CertificateParseError) throw rejected(`ek: certificate does not parse: ${err.message}`, err);
    throw err;
  }
  const chains = await verifyCertificateChain(cert, { roots: trust.roots, intermediates: trust.intermediates, now, keyUsage: null });
  if (chains.length === 0) throw rejected('ek: certificate does not chain to a configured EK root');
  return { spki: cert.spki, sha256: bytesToHex(sha256(cert.spki)), certified: true };
}

/** An EK public key as PEM (`tpm2_readpublic -f pem`), certified only by its registration. */
export function parseEkPublicPem(pem: string): VerifiedEk {
  const block = parsePemBlocks(pem).find((b) => b.type === 'PUBLIC KEY');
  if (!block) throw rejected('ek: ekPub is not a PEM public key');
  return { spki: block.der, sha256: bytesToHex(sha256(block.der)), certified: false };
}
