// The CA hash in `K10<hash>::…` exactly as k3s hashCA computes it (reference/k3s-token.md §2),
// and kubeadm's `sha256:<SPKI hash>` pin for the same CA. Pure; `now` is injectable for tests.
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { CertificateParseError, bytesEqual, parseCertificate, parsePemBlocks, verifyCertificateChain, type ParsedCertificate } from '../pki/index.ts';
import { TokenError } from './token-error.ts';

export interface HashClusterCAOptions {
  /** Clock for chain validity (multi-certificate bundles only). Defaults to the system clock. */
  readonly now?: () => Date;
}

const NO_CERTS = 'data does not contain any valid RSA or ECDSA certificates';

/**
 * k3s hashCA: one certificate → SHA-256 of the bundle bytes exactly as served (PEM text, trailing
 * newline included); several → SHA-256 of the DER of the root that certs[0] chains to, or of the
 * raw bytes when that verification fails for any reason. Lowercase hex, no prefix.
 */
export async function hashClusterCA(caBundle: string | Uint8Array, options: HashClusterCAOptions = {}): Promise<string> {
  const bytes = typeof caBundle === 'string' ? new TextEncoder().encode(caBundle) : caBundle;
  const certs = parseBundleCertificates(bytes);
  if (certs.length === 1) return bytesToHex(sha256(bytes));
  const root = await findRoot(certs, (options.now ?? (() => new Date()))());
  return bytesToHex(sha256(root ? root.der : bytes));
}

/** kubeadm `--discovery-token-ca-cert-hash` for the CA that hashClusterCA selects. */
export async function caCertPin(caBundle: string | Uint8Array, options: HashClusterCAOptions = {}): Promise<string> {
  const bytes = typeof caBundle === 'string' ? new TextEncoder().encode(caBundle) : caBundle;
  const certs = parseBundleCertificates(bytes);
  const ca = certs.length === 1 ? certs[0]! : ((await findRoot(certs, (options.now ?? (() => new Date()))())) ?? certs[0]!);
  return `sha256:${bytesToHex(sha256(ca.spki))}`;
}

/** Every `sha256:<hex>` pin, one per certificate, as kubeadm prints them. */
export function caCertPins(caBundle: string | Uint8Array): string[] {
  const bytes = typeof caBundle === 'string' ? new TextEncoder().encode(caBundle) : caBundle;
  return parseBundleCertificates(bytes).map((c) => `sha256:${bytesToHex(sha256(c.spki))}`);
}

/** CERTIFICATE blocks without PEM headers, as rancher/dynamiclistener ParseCertsPEM keeps them. */
export function parseBundleCertificates(bytes: Uint8Array): ParsedCertificate[] {
  let text: string;
  try {
    text = new TextDecoder().decode(bytes);
  } catch {
    throw new TokenError(NO_CERTS);
  }
  const certs: ParsedCertificate[] = [];
  for (const block of parsePemBlocks(text)) {
    if (block.type !== 'CERTIFICATE' || Object.keys(block.headers).length > 0) continue;
    try {
      certs.push(parseCertificate(block.der));
    } catch (err) {
      if (err instanceof CertificateParseError) throw new TokenError(`failed to parse CA certificate: ${err.message}`);
      throw err;
    }
  }
  if (certs.length === 0) throw new TokenError(NO_CERTS);
  return certs;
}

async function findRoot(certs: ParsedCertificate[], now: Date): Promise<ParsedCertificate | null> {
  const roots: ParsedCertificate[] = [];
  const intermediates: ParsedCertificate[] = [];
  for (const cert of certs.slice(1)) {
    const selfIssued = cert.authorityKeyId === null || cert.authorityKeyId.length === 0 || bytesEqual(cert.authorityKeyId, cert.subjectKeyId);
    (selfIssued ? roots : intermediates).push(cert);
  }
  const chains = await verifyCertificateChain(certs[0]!, { roots, intermediates, now });
  const first = chains[0];
  return first ? first[first.length - 1]! : null;
}
