// TPM2B_PUBLIC as `tpm2_createak -u` / `tpm2_createek -u` write it (TPM 2.0 Part 2 §12.2):
// strict, bounds-checked parsing of RSA and ECC public areas, the object's name, and the
// attribute checks an attestation key must pass. It does no cryptography beyond hashing.
import { sha256, sha384 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { tpmRejected } from './tpm-error.ts';

export const TPM_ALG = {
  RSA: 0x0001, SHA1: 0x0004, HMAC: 0x0005, AES: 0x0006, MGF1: 0x0007, KEYEDHASH: 0x0008, SHA256: 0x000b, SHA384: 0x000c, SHA512: 0x000d, NULL: 0x0010,
  RSASSA: 0x0014, RSAES: 0x0015, RSAPSS: 0x0016, OAEP: 0x0017, ECDSA: 0x0018, ECDH: 0x0019, ECDAA: 0x001a, SM2: 0x001b, ECSCHNORR: 0x001c, ECMQV: 0x001d,
  KDF1_SP800_56A: 0x0020, KDF2: 0x0021, KDF1_SP800_108: 0x0022, ECC: 0x0023, CFB: 0x0043,
} as const;
export const TPM_ECC_CURVE = { NIST_P256: 0x0003, NIST_P384: 0x0004 } as const;
/** TPMA_OBJECT bits (TPM 2.0 Part 2 §8.3; x509sign since rev 1.59). */
export const TPMA_OBJECT = {
  fixedTPM: 1 << 1, stClear: 1 << 2, fixedParent: 1 << 4, sensitiveDataOrigin: 1 << 5, userWithAuth: 1 << 6, adminWithPolicy: 1 << 7,
  noDA: 1 << 10, encryptedDuplication: 1 << 11, restricted: 1 << 16, decrypt: 1 << 17, sign: 1 << 18, x509sign: 1 << 19,
} as const;
export type TpmaObjectName = keyof typeof TPMA_OBJECT;
const TPMA_OBJECT_RESERVED = ~Object.values(TPMA_OBJECT).reduce((a, b) => a | b, 0) >>> 0;

/** Largest TPMT_PUBLIC accepted (an RSA-4096 public area with a SHA-512 policy is ~600 bytes). */
export const TPM_PUBLIC_MAX_BYTES = 1024;
const DIGEST_BYTES: Readonly<Record<number, number>> = { [TPM_ALG.SHA1]: 20, [TPM_ALG.SHA256]: 32, [TPM_ALG.SHA384]: 48, [TPM_ALG.SHA512]: 64 };
const CURVE_BYTES: Readonly<Record<number, number>> = { [TPM_ECC_CURVE.NIST_P256]: 32, [TPM_ECC_CURVE.NIST_P384]: 48 };
const RSA_KEY_BITS = [1024, 2048, 3072, 4096];
const SYM_KEY_BITS = [128, 192, 256];
const RSA_SCHEMES: readonly number[] = [TPM_ALG.RSASSA, TPM_ALG.RSAPSS, TPM_ALG.RSAES, TPM_ALG.OAEP];
const ECC_SCHEMES: readonly number[] = [TPM_ALG.ECDSA, TPM_ALG.ECDAA, TPM_ALG.SM2, TPM_ALG.ECSCHNORR, TPM_ALG.ECDH, TPM_ALG.ECMQV];
const KDFS: readonly number[] = [TPM_ALG.MGF1, TPM_ALG.KDF1_SP800_56A, TPM_ALG.KDF2, TPM_ALG.KDF1_SP800_108];

export interface TpmPublic {
  readonly type: 'rsa' | 'ecc';
  readonly nameAlg: number;
  readonly objectAttributes: number;
  /** Names of the TPMA_OBJECT bits that are set, in bit order. */
  readonly attributes: readonly TpmaObjectName[];
  readonly authPolicy: Uint8Array;
  readonly symmetric: { readonly algorithm: number; readonly keyBits: number; readonly mode: number } | null;
  /** TPM_ALG_NULL, or a signing/decryption scheme with its hash (and ECDAA count). */
  readonly scheme: { readonly algorithm: number; readonly hashAlg: number | null; readonly count: number | null };
  /** `exponent` is the effective exponent (a stored 0 means 65537). */
  readonly rsa: { readonly keyBits: number; readonly exponent: number; readonly modulus: Uint8Array } | null;
  readonly ecc: { readonly curve: number; readonly kdf: { readonly algorithm: number; readonly hashAlg: number } | null; readonly x: Uint8Array; readonly y: Uint8Array } | null;
  /** The TPMT_PUBLIC bytes (what the name hashes). */
  readonly tpmtPublic: Uint8Array;
}

const hex16 = (n: number) => `0x${n.toString(16).padStart(4, '0')}`;

class Reader {
  private at = 0;
  constructor(private readonly b: Uint8Array, private readonly what: string) {}
  private need(n: number, field: string) {
    if (this.at + n > this.b.length) throw tpmRejected(`${this.what}: truncated in ${field} at byte ${this.at} of ${this.b.length}`);
  }
  u16(field: string): number {
    this.need(2, field);
    const v = (this.b[this.at]! << 8) | this.b[this.at + 1]!;
    this.at += 2;
    return v;
  }
  u32(field: string): number {
    this.need(4, field);
    const v = ((this.b[this.at]! << 24) | (this.b[this.at + 1]! << 16) | (this.b[this.at + 2]! << 8) | this.b[this.at + 3]!) >>> 0;
    this.at += 4;
    return v;
  }
  tpm2b(field: string, max: number): Uint8Array {
    const n = this.u16(`${field}.size`);
    if (n > max) throw tpmRejected(`${this.what}: ${field} size ${n} over ${max}`);
    this.need(n, field);
    const v = this.b.slice(this.at, this.at + n);
    this.at += n;
    return v;
  }
  done() {
    if (this.at !== this.b.length) throw tpmRejected(`${this.what}: ${this.b.length - this.at} trailing bytes`);
  }
}

function hashAlgOf(r: Reader, field: string): number {
  const alg = r.u16(field);
  if (DIGEST_BYTES[alg] === undefined) throw tpmRejected(`TPMT_PUBLIC: unknown ${field} ${hex16(alg)}`);
  return alg;
}

/** TPM2B_PUBLIC: 2-byte big-endian size, then exactly that many bytes of TPMT_PUBLIC. */
export function parseTpm2bPublic(bytes: Uint8Array): TpmPublic {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('parseTpm2bPublic expects a Uint8Array');
  if (bytes.length > TPM_PUBLIC_MAX_BYTES + 2) throw tpmRejected(`TPM2B_PUBLIC: ${bytes.length} bytes is over ${TPM_PUBLIC_MAX_BYTES + 2}`);
  const outer = new Reader(bytes, 'TPM2B_PUBLIC');
  const tpmt = outer.tpm2b('publicArea', TPM_PUBLIC_MAX_BYTES);
  outer.done();
  return parseTpmtPublic(tpmt);
}

export function parseTpmtPublic(tpmt: Uint8Array): TpmPublic {
  const r = new Reader(tpmt, 'TPMT_PUBLIC');
  const typeAlg = r.u16('type');
  if (typeAlg !== TPM_ALG.RSA && typeAlg !== TPM_ALG.ECC) throw tpmRejected(`TPMT_PUBLIC: unsupported type ${hex16(typeAlg)}`);
  const nameAlg = r.u16('nameAlg');
  if (nameAlg !== TPM_ALG.SHA256 && nameAlg !== TPM_ALG.SHA384) throw tpmRejected(`TPMT_PUBLIC: unsupported nameAlg ${hex16(nameAlg)}`);
  const objectAttributes = r.u32('objectAttributes');
  const reserved = (objectAttributes & TPMA_OBJECT_RESERVED) >>> 0;
  if (reserved !== 0) throw tpmRejected(`TPMT_PUBLIC: reserved objectAttributes bits set (0x${reserved.toString(16)})`);
  const authPolicy = r.tpm2b('authPolicy', 64);
  // The TPM itself refuses a policy that is neither empty nor a nameAlg digest.
  if (authPolicy.length !== 0 && authPolicy.length !== DIGEST_BYTES[nameAlg]) throw tpmRejected(`TPMT_PUBLIC: authPolicy of ${authPolicy.length} bytes for nameAlg ${hex16(nameAlg)}`);

  const symAlg = r.u16('symmetric.algorithm');
  let symmetric: TpmPublic['symmetric'] = null;
  if (symAlg !== TPM_ALG.NULL) {
    if (symAlg !== TPM_ALG.AES) throw tpmRejected(`TPMT_PUBLIC: unsupported symmetric ${hex16(symAlg)}`);
    const keyBits = r.u16('symmetric.keyBits');
    const mode = r.u16('symmetric.mode');
    if (!SYM_KEY_BITS.includes(keyBits)) throw tpmRejected(`TPMT_PUBLIC: unsupported AES key size ${keyBits}`);
    if (mode !== TPM_ALG.CFB) throw tpmRejected(`TPMT_PUBLIC: unsupported symmetric mode ${hex16(mode)}`);
    symmetric = { algorithm: symAlg, keyBits, mode };
  }

  const schemeAlg = r.u16('scheme');
  let scheme: TpmPublic['scheme'] = { algorithm: TPM_ALG.NULL, hashAlg: null, count: null };
  if (schemeAlg !== TPM_ALG.NULL) {
    if (!(typeAlg === TPM_ALG.RSA ? RSA_SCHEMES : ECC_SCHEMES).includes(schemeAlg)) throw tpmRejected(`TPMT_PUBLIC: unknown scheme ${hex16(schemeAlg)}`);
    // RSAES carries no details (TPMS_ENC_SCHEME_RSAES is empty); ECDAA adds a count.
    const hashAlg = schemeAlg === TPM_ALG.RSAES ? null : hashAlgOf(r, 'scheme hashAlg');
    const count = schemeAlg === TPM_ALG.ECDAA ? r.u16('scheme count') : null;
    scheme = { algorithm: schemeAlg, hashAlg, count };
  }

  const base = { nameAlg, objectAttributes, attributes: attributeNames(objectAttributes), authPolicy, symmetric, scheme, tpmtPublic: tpmt };
  if (typeAlg === TPM_ALG.RSA) {
    const keyBits = r.u16('keyBits');
    const exponent = r.u32('exponent');
    const modulus = r.tpm2b('unique.rsa', 512);
    r.done();
    if (!RSA_KEY_BITS.includes(keyBits)) throw tpmRejected(`TPMT_PUBLIC: unsupported RSA key size ${keyBits}`);
    if (keyBits !== modulus.length * 8) throw tpmRejected(`TPMT_PUBLIC: RSA keyBits ${keyBits} does not match a ${modulus.length}-byte modulus`);
    if (exponent !== 0 && (exponent < 3 || exponent % 2 === 0)) throw tpmRejected(`TPMT_PUBLIC: bad RSA exponent ${exponent}`);
    return { type: 'rsa', ...base, rsa: { keyBits, exponent: exponent || 65537, modulus }, ecc: null };
  }
  const curve = r.u16('curveID');
  const size = CURVE_BYTES[curve];
  if (size === undefined) throw tpmRejected(`TPMT_PUBLIC: unsupported curve ${hex16(curve)}`);
  const kdfAlg = r.u16('kdf');
  let kdf: { algorithm: number; hashAlg: number } | null = null;
  if (kdfAlg !== TPM_ALG.NULL) {
    if (!KDFS.includes(kdfAlg)) throw tpmRejected(`TPMT_PUBLIC: unknown kdf ${hex16(kdfAlg)}`);
    kdf = { algorithm: kdfAlg, hashAlg: hashAlgOf(r, 'kdf hashAlg') };
  }
  const x = r.tpm2b('unique.x', 66);
  const y = r.tpm2b('unique.y', 66);
  r.done();
  if (x.length !== size || y.length !== size) throw tpmRejected(`TPMT_PUBLIC: ECC point of ${x.length}/${y.length} bytes for a ${size}-byte curve`);
  return { type: 'ecc', ...base, rsa: null, ecc: { curve, kdf, x, y } };
}

function attributeNames(a: number): TpmaObjectName[] {
  return (Object.keys(TPMA_OBJECT) as TpmaObjectName[]).filter((k) => (a & TPMA_OBJECT[k]) !== 0);
}

export function hashFor(alg: number): (data: Uint8Array) => Uint8Array {
  if (alg === TPM_ALG.SHA256) return (d) => sha256(d);
  if (alg === TPM_ALG.SHA384) return (d) => sha384(d);
  throw tpmRejected(`unsupported hash ${hex16(alg)}`);
}

/** TPM name: nameAlg (2 bytes, big endian) ‖ H_nameAlg(TPMT_PUBLIC). */
export function computeTpmName(pub: TpmPublic): Uint8Array;
export function computeTpmName(tpmtPublic: Uint8Array, nameAlg: number): Uint8Array;
export function computeTpmName(pubOrBytes: TpmPublic | Uint8Array, nameAlg?: number): Uint8Array {
  const [bytes, alg] = pubOrBytes instanceof Uint8Array ? [pubOrBytes, nameAlg] : [pubOrBytes.tpmtPublic, pubOrBytes.nameAlg];
  if (alg === undefined) throw new TypeError('computeTpmName(bytes, nameAlg): nameAlg is required');
  const digest = hashFor(alg)(bytes);
  const out = new Uint8Array(2 + digest.length);
  out[0] = alg >> 8;
  out[1] = alg & 0xff;
  out.set(digest, 2);
  return out;
}

/** The name as `tpm2_createak -n` writes it and `tpm2_makecredential -n` takes it: lowercase hex. */
export function akNameHex(pub: TpmPublic): string {
  return bytesToHex(computeTpmName(pub));
}

/** An attestation key must be a restricted signing key that never leaves this TPM. */
export function validateAttestationKey(pub: TpmPublic): void {
  const a = pub.objectAttributes;
  for (const name of ['fixedTPM', 'fixedParent', 'sensitiveDataOrigin', 'restricted', 'sign'] as const) {
    if ((a & TPMA_OBJECT[name]) === 0) throw tpmRejected(`AK is not acceptable: ${name} is clear`);
  }
  if ((a & TPMA_OBJECT.decrypt) !== 0) throw tpmRejected('AK is not acceptable: decrypt is set');
  if (pub.rsa && pub.rsa.keyBits < 2048) throw tpmRejected(`AK is not acceptable: RSA key of ${pub.rsa.keyBits} bits is under 2048`);
  if (pub.ecc && pub.ecc.curve !== TPM_ECC_CURVE.NIST_P256 && pub.ecc.curve !== TPM_ECC_CURVE.NIST_P384) throw tpmRejected(`AK is not acceptable: curve ${hex16(pub.ecc.curve)} is not P-256 or P-384`);
}
