// Go crypto/x509 Certificate.Verify, reduced to what CA bundles need: build chains from a leaf
// through intermediates to roots, checking signatures, validity at `now`, the CA flag of
// intermediates and (like Go's default) the serverAuth EKU on every certificate that has EKUs.
// It does not check hostnames, name constraints, path length or policies.
import { bytesEqual, type ParsedCertificate } from './certificate.ts';
import { verifyCertificateSignature } from './signature.ts';

const EKU_ANY = '2.5.29.37.0';
export const EKU_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
export const EKU_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const MAX_CHAIN_LENGTH = 10;

export interface VerifyChainOptions {
  readonly roots: readonly ParsedCertificate[];
  readonly intermediates?: readonly ParsedCertificate[];
  readonly now: Date;
  /** Required EKU (Go default: serverAuth); null accepts any. */
  readonly keyUsage?: string | null;
}

/** Returns every chain [leaf, …, root] found (Go order: roots before intermediates), or [] on failure. */
export async function verifyCertificateChain(leaf: ParsedCertificate, options: VerifyChainOptions): Promise<ParsedCertificate[][]> {
  const { now } = options;
  const keyUsage = options.keyUsage === undefined ? EKU_SERVER_AUTH : options.keyUsage;
  if (!withinValidity(leaf, now)) return [];
  const chains: ParsedCertificate[][] = [];

  const extend = async (chain: ParsedCertificate[]): Promise<void> => {
    const current = chain[chain.length - 1]!;
    if (chain.length > MAX_CHAIN_LENGTH) return;
    for (const root of candidates(current, options.roots)) {
      if (chain.includes(root) || !withinValidity(root, now)) continue;
      if (await verifyCertificateSignature(current, root)) chains.push([...chain, root]);
    }
    for (const inter of candidates(current, options.intermediates ?? [])) {
      if (chain.includes(inter) || !withinValidity(inter, now)) continue;
      if (!inter.basicConstraintsValid || !inter.isCA) continue;
      if (await verifyCertificateSignature(current, inter)) await extend([...chain, inter]);
    }
  };
  await extend([leaf]);
  return keyUsage === null ? chains : chains.filter((c) => c.every((cert) => allowsUsage(cert, keyUsage)));
}

function candidates(cert: ParsedCertificate, pool: readonly ParsedCertificate[]): ParsedCertificate[] {
  const bySubject = pool.filter((p) => bytesEqual(p.rawSubject, cert.rawIssuer));
  // Go tries key-id matches first, then the rest with the same subject.
  const keyMatch = (p: ParsedCertificate) => cert.authorityKeyId !== null && bytesEqual(p.subjectKeyId, cert.authorityKeyId);
  return [...bySubject.filter(keyMatch), ...bySubject.filter((p) => !keyMatch(p))];
}

function withinValidity(cert: ParsedCertificate, now: Date): boolean {
  const t = now.getTime();
  return t >= cert.notBefore.getTime() && t <= cert.notAfter.getTime();
}

function allowsUsage(cert: ParsedCertificate, usage: string): boolean {
  if (cert.extKeyUsages === null || cert.extKeyUsages.length === 0) return true;
  return cert.extKeyUsages.includes(EKU_ANY) || cert.extKeyUsages.includes(usage);
}
