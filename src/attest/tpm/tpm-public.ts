// TPM2B_PUBLIC as `tpm2_createak -u` / `tpm2_createek -u` write it (TPM 2.0 Part 2 §12.2):
// strict, bounds-checked parsing of RSA and ECC public areas, the object's name, and the
// attribute checks an attestation key must pass. It does no cryptography beyond hashing.
import { sha256, sha384 } from '@noble/hashes/sha2.js';
import { rejected } from '../evidence.ts';

export const TPM_ALG = { RSA: 0x0001, SHA1: 0x0004, HMAC: 0x0005, AES: 0x0006, KEYEDHASH: 0x0008, SHA256: 0x000b, SHA384: 0x000c, NULL: 0x0010, RSASSA: 0x0014, RSAPSS: 0x0016, ECDSA: 0x0018, ECDAA: 0x001a, ECC: 0x0023, CFB: 0x0043 } as const;
export const TPM_ECC_CURVE = { NIST_P256: 0x0003, NIST_P384: 0x0004 } as const;
export const TPMA_OBJECT = { fixedTPM: 1 << 1, stClear: 1 << 2, fixedParent: 1 << 4, sensitiveDataOrigin: 1 << 5, userWithAuth: 1 << 6, adminWithPolicy: 1 << 7, noDA: 1 << 10, encryptedDuplication: 1 << 11, restricted: 1 << 16, decrypt: 1 << 17, sign: 1 << 18 } as const;
const MAX_PUBLIC_BYTES = 1024;

export interface TpmPublic {
  readonly type: 'rsa' | 'ecc';
  readonly nameAlg: number;
  readonly objectAttributes: number;
  readonly symmetric: { readonly algorithm: number; readonly keyBits: number; readonly mode: number } | null;
  readonly scheme: number;
  readonly rsa: { readonly keyBits: number; readonly exponent: number; readonly modulus: Uint8Array } | null;
  readonly ecc: { readonly curve: number; readonly x: Uint8Array; readonly y: Uint8Array } | null;
  /** The TPMT_PUBLIC bytes (what the name hashes). */
  readonly tpmtPublic: Uint8Array;
}

class Reader {
  private at = 0;
  constructor(private readonly b: Uint8Array, private readonly what: string) {}
  private need(n: number) {
    if (this.at + n > this.b.length) throw rejected(`${this.what}: truncated at byte ${this.at}`);
  }
  u16(): number {
    this.need(2);
    const v = (this.b[this.at]! << 8) | this.b[this.at + 1]!;
    this.at += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = ((this.b[this.at]! << 24) >>> 0) + ((this.b[this.at + 1]! << 16) | (this.b[this.at + 2]! << 8) | this.b[this.at + 3]!);
    this.at += 4;
    return v;
  }
  bytes(n: number): Uint8Array {
    this.need(n);
    const v = this.b.slice(this.at, this.at + n);
    this.at += n;
    return v;
  }
  tpm2b(max: number): Uint8Array {
    const n = this.u16();
    if (n > max) throw rejected(`${this.what}: size ${n} over ${max}`);
    return this.bytes(n);
  }
  done() {
    if (this.at !== this.b.length) throw rejected(`${this.what}: ${this.b.length - this.at} trailing bytes`);
  }
}

export function parseTpm2bPublic(bytes: Uint8Array): TpmPublic {
  if (!(bytes instanceof Uint8Array) || bytes.length < 2 || bytes.length > MAX_PUBLIC_BYTES + 2) throw rejected('TPM2B_PUBLIC: bad length');
  const outer = new Reader(bytes, 'TPM2B_PUBLIC');
  const tpmt = outer.tpm2b(MAX_PUBLIC_BYTES);
  outer.done();
  return parseTpmtPublic(tpmt);
}

export function parseTpmtPublic(tpmt: Uint8Array): TpmPublic {
  const r = new Reader(tpmt, 'TPMT_PUBLIC');
  const typeAlg = r.u16();
  const nameAlg = r.u16();
  if (nameAlg !== TPM_ALG.SHA256 && nameAlg !== TPM_ALG.SHA384) throw rejected(`TPMT_PUBLIC: unsupported nameAlg 0x${nameAlg.toString(16)}`);
  const objectAttributes = r.u32();
  r.tpm2b(64); // authPolicy
  const symAlg = r.u16();
  let symmetric: TpmPublic['symmetric'] = null;
  if (symAlg !== TPM_ALG.NULL) {
    if (symAlg !== TPM_ALG.AES) throw rejected(`TPMT_PUBLIC: unsupported symmetric 0x${symAlg.toString(16)}`);
    symmetric = { algorithm: symAlg, keyBits: r.u16(), mode: r.u16() };
  }
  const scheme = r.u16();
  if (scheme !== TPM_ALG.NULL) {
    r.u16(); // hashAlg of the scheme
    if (scheme === TPM_ALG.ECDAA) r.u16(); // count
  }
  if (typeAlg === TPM_ALG.RSA) {
    const keyBits = r.u16();
    const exponent = r.u32() || 65537;
    const modulus = r.tpm2b(512);
    r.done();
    if (keyBits !== modulus.length * 8) throw rejected('TPMT_PUBLIC: RSA keyBits does not match the modulus');
    return { type: 'rsa', nameAlg, objectAttributes, symmetric, scheme, rsa: { keyBits, exponent, modulus }, ecc: null, tpmtPublic: tpmt };
  }
  if (typeAlg === TPM_ALG.ECC) {
    const curve = r.u16();
    const kdf = r.u16();
    if (kdf !== TPM_ALG.NULL) r.u16();
    const x = r.tpm2b(66);
    const y = r.tpm2b(66);
    r.done();
    const size = curve === TPM_ECC_CURVE.NIST_P256 ? 32 : curve === TPM_ECC_CURVE.NIST_P384 ? 48 : 0;
    if (size === 0) throw rejected(`TPMT_PUBLIC: unsupported curve 0x${curve.toString(16)}`);
    if (x.length !== size || y.length !== size) throw rejected('TPMT_PUBLIC: ECC point of the wrong size');
    return { type: 'ecc', nameAlg, objectAttributes, symmetric, scheme, rsa: null, ecc: { curve, x, y }, tpmtPublic: tpmt };
  }
  throw rejected(`TPMT_PUBLIC: unsupported type 0x${typeAlg.toString(16)}`);
}

export function hashFor(alg: number): (data: Uint8Array) => Uint8Array {
  if (alg === TPM_ALG.SHA256) return (d) => sha256(d);
  if (alg === TPM_ALG.SHA384) return (d) => sha384(d);
  throw rejected(`unsupported hash 0x${alg.toString(16)}`);
}

/** TPM name: nameAlg (2 bytes, big endian) ‖ H_nameAlg(TPMT_PUBLIC). */
export function computeTpmName(pub: TpmPublic): Uint8Array {
  const digest = hashFor(pub.nameAlg)(pub.tpmtPublic);
  const out = new Uint8Array(2 + digest.length);
  out[0] = pub.nameAlg >> 8;
  out[1] = pub.nameAlg & 0xff;
  out.set(digest, 2);
  return out;
}

/** An attestation key must be a restricted signing key that never leaves this TPM. */
export function validateAttestationKey(pub: TpmPublic): void {
  const a = pub.objectAttributes;
  for (const name of ['fixedTPM', 'fixedParent', 'sensitiveDataOrigin', 'restricted', 'sign'] as const) {
    if ((a & TPMA_OBJECT[name]) === 0) throw rejected(`AK is not acceptable: ${name} is clear`);
  }
  if ((a & TPMA_OBJECT.decrypt) !== 0) throw rejected('AK is not acceptable: decrypt is set');
  if (pub.rsa && pub.rsa.keyBits < 2048) throw rejected('AK is not acceptable: RSA key under 2048 bits');
}
