// One parsed X.509 certificate (via @peculiar/asn1-x509) with the fields chain building needs:
// raw DER, names, validity, key identifiers, CA flag, EKUs and the SPKI. It verifies nothing.
import { ECParameters, id_ecPublicKey } from '@peculiar/asn1-ecc';
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  AuthorityKeyIdentifier,
  BasicConstraints,
  Certificate,
  ExtendedKeyUsage,
  SubjectKeyIdentifier,
  id_ce_authorityKeyIdentifier,
  id_ce_basicConstraints,
  id_ce_extKeyUsage,
  id_ce_subjectKeyIdentifier,
} from '@peculiar/asn1-x509';

/** Bytes backed by a plain ArrayBuffer, as WebCrypto wants them. */
export type Bytes = Uint8Array<ArrayBuffer>;

export interface ParsedCertificate {
  readonly der: Bytes;
  readonly tbs: Bytes;
  readonly rawSubject: Bytes;
  readonly rawIssuer: Bytes;
  readonly spki: Bytes;
  /** OID of the SPKI algorithm and, for EC keys, the named curve OID. */
  readonly keyAlgorithm: string;
  readonly keyCurve: string | null;
  readonly signatureAlgorithm: string;
  readonly signature: Bytes;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly authorityKeyId: Bytes | null;
  readonly subjectKeyId: Bytes | null;
  readonly basicConstraintsValid: boolean;
  readonly isCA: boolean;
  /** Extended key usages; null when the extension is absent (= any usage). */
  readonly extKeyUsages: readonly string[] | null;
  /** The parsed structure, for callers that need more (SAN, key usage, subject attributes). */
  readonly asn1: Certificate;
}

export class CertificateParseError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CertificateParseError';
  }
}

export function parseCertificate(der: Uint8Array<ArrayBuffer>): ParsedCertificate {
  let cert: Certificate;
  try {
    cert = AsnConvert.parse(der, Certificate);
  } catch (cause) {
    throw new CertificateParseError('x509: malformed certificate', { cause });
  }
  try {
    const tbs = cert.tbsCertificate;
    const ext = (oid: string) => tbs.extensions?.find((e) => e.extnID === oid);
    const akiExt = ext(id_ce_authorityKeyIdentifier);
    const skiExt = ext(id_ce_subjectKeyIdentifier);
    const bcExt = ext(id_ce_basicConstraints);
    const ekuExt = ext(id_ce_extKeyUsage);
    const aki = akiExt ? AsnConvert.parse(akiExt.extnValue, AuthorityKeyIdentifier) : null;
    const ski = skiExt ? AsnConvert.parse(skiExt.extnValue, SubjectKeyIdentifier) : null;
    const bc = bcExt ? AsnConvert.parse(bcExt.extnValue, BasicConstraints) : null;
    const eku = ekuExt ? [...AsnConvert.parse(ekuExt.extnValue, ExtendedKeyUsage)] : null;
    const params = tbs.subjectPublicKeyInfo.algorithm.parameters;
    const keyAlgorithm = tbs.subjectPublicKeyInfo.algorithm.algorithm;
    const keyCurve =
      keyAlgorithm === id_ecPublicKey && params ? (AsnConvert.parse(params, ECParameters).namedCurve ?? null) : null;
    return Object.freeze({
      der: der.slice(),
      tbs: new Uint8Array(cert.tbsCertificateRaw ?? AsnConvert.serialize(tbs)),
      rawSubject: new Uint8Array(AsnConvert.serialize(tbs.subject)),
      rawIssuer: new Uint8Array(AsnConvert.serialize(tbs.issuer)),
      spki: new Uint8Array(AsnConvert.serialize(tbs.subjectPublicKeyInfo)),
      keyAlgorithm,
      keyCurve,
      signatureAlgorithm: cert.signatureAlgorithm.algorithm,
      signature: new Uint8Array(cert.signatureValue),
      notBefore: tbs.validity.notBefore.getTime(),
      notAfter: tbs.validity.notAfter.getTime(),
      authorityKeyId: aki?.keyIdentifier ? new Uint8Array(aki.keyIdentifier.buffer) : null,
      subjectKeyId: ski ? new Uint8Array(ski.buffer) : null,
      basicConstraintsValid: bc !== null,
      isCA: bc?.cA ?? false,
      extKeyUsages: eku,
      asn1: cert,
    });
  } catch (cause) {
    if (cause instanceof CertificateParseError) throw cause;
    throw new CertificateParseError('x509: malformed certificate extension', { cause });
  }
}

export function bytesEqual(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (a === null || b === null || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
