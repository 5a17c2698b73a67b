// Verifies one certificate's signature with its issuer's key through WebCrypto. Supports what Go's
// crypto/x509 accepts for CA chains today: RSA PKCS#1 v1.5 and ECDSA with SHA-256/384/512, Ed25519.
// SHA-1 and RSA-PSS are refused (returns false), so such a chain falls back as a failed verify.
import { AsnConvert } from '@peculiar/asn1-schema';
import { ECDSASigValue } from '@peculiar/asn1-ecc';
import type { ParsedCertificate } from './certificate.ts';

const RSA_PKCS1: Record<string, string> = {
  '1.2.840.113549.1.1.11': 'SHA-256',
  '1.2.840.113549.1.1.12': 'SHA-384',
  '1.2.840.113549.1.1.13': 'SHA-512',
};
const ECDSA: Record<string, string> = {
  '1.2.840.10045.4.3.2': 'SHA-256',
  '1.2.840.10045.4.3.3': 'SHA-384',
  '1.2.840.10045.4.3.4': 'SHA-512',
};
const CURVES: Record<string, { name: string; size: number }> = {
  '1.2.840.10045.3.1.7': { name: 'P-256', size: 32 },
  '1.3.132.0.34': { name: 'P-384', size: 48 },
  '1.3.132.0.35': { name: 'P-521', size: 66 },
};
const ED25519 = '1.3.101.112';

export async function verifyCertificateSignature(cert: ParsedCertificate, issuer: ParsedCertificate): Promise<boolean> {
  try {
    const subtle = crypto.subtle;
    const rsaHash = RSA_PKCS1[cert.signatureAlgorithm];
    if (rsaHash) {
      const key = await subtle.importKey('spki', issuer.spki, { name: 'RSASSA-PKCS1-v1_5', hash: rsaHash }, false, ['verify']);
      return await subtle.verify('RSASSA-PKCS1-v1_5', key, cert.signature, cert.tbs);
    }
    const ecHash = ECDSA[cert.signatureAlgorithm];
    if (ecHash) {
      const curve = issuer.keyCurve ? CURVES[issuer.keyCurve] : undefined;
      if (!curve) return false;
      const key = await subtle.importKey('spki', issuer.spki, { name: 'ECDSA', namedCurve: curve.name }, false, ['verify']);
      const raw = ecdsaDerToRaw(cert.signature, curve.size);
      if (!raw) return false;
      return await subtle.verify({ name: 'ECDSA', hash: ecHash }, key, raw, cert.tbs);
    }
    if (cert.signatureAlgorithm === ED25519) {
      const key = await subtle.importKey('spki', issuer.spki, { name: 'Ed25519' }, false, ['verify']);
      return await subtle.verify('Ed25519', key, cert.signature, cert.tbs);
    }
    return false;
  } catch {
    // A key WebCrypto cannot import, or a malformed signature, is a failed verification.
    return false;
  }
}

/** X.509 ECDSA signatures are DER SEQUENCE{r,s}; WebCrypto wants fixed-width r‖s. */
function ecdsaDerToRaw(der: Uint8Array, size: number): Uint8Array<ArrayBuffer> | null {
  const sig = AsnConvert.parse(der, ECDSASigValue);
  const out = new Uint8Array(size * 2);
  const put = (buf: ArrayBuffer, offset: number): boolean => {
    let v = new Uint8Array(buf);
    while (v.length > size && v[0] === 0) v = v.subarray(1);
    if (v.length > size) return false;
    out.set(v, offset + size - v.length);
    return true;
  };
  return put(sig.r, 0) && put(sig.s, size) ? out : null;
}

/**
 * A signature made with a certificate's key over `data` (what `openssl dgst -sha256 -sign key`
 * writes): RSA PKCS#1 v1.5 or ECDSA (DER r,s) with SHA-256, or Ed25519. False on any mismatch.
 */
export async function verifyDataSignature(cert: ParsedCertificate, data: Uint8Array<ArrayBuffer>, signature: Uint8Array): Promise<boolean> {
  try {
    const subtle = crypto.subtle;
    if (cert.keyAlgorithm === '1.2.840.113549.1.1.1') {
      const key = await subtle.importKey('spki', cert.spki, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['verify']);
      return await subtle.verify('RSASSA-PKCS1-v1_5', key, signature as Uint8Array<ArrayBuffer>, data);
    }
    if (cert.keyAlgorithm === '1.2.840.10045.2.1') {
      const curve = cert.keyCurve ? CURVES[cert.keyCurve] : undefined;
      if (!curve) return false;
      const key = await subtle.importKey('spki', cert.spki, { name: 'ECDSA', namedCurve: curve.name }, false, ['verify']);
      const raw = ecdsaDerToRaw(signature, curve.size);
      return raw ? await subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, key, raw, data) : false;
    }
    if (cert.keyAlgorithm === ED25519) {
      const key = await subtle.importKey('spki', cert.spki, { name: 'Ed25519' }, false, ['verify']);
      return await subtle.verify('Ed25519', key, signature as Uint8Array<ArrayBuffer>, data);
    }
    return false;
  } catch {
    return false;
  }
}
