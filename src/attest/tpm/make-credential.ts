// TPM2 MakeCredential in software (TPM 2.0 Part 1 §24, Part 3 ActivateCredential), as
// `tpm2_makecredential -T none` computes it: seed protected to the EK (RSA-OAEP label
// "IDENTITY" or ECDH + KDFe), symKey = KDFa(STORAGE, AK name), AES-CFB over the credential,
// outer HMAC keyed by KDFa(INTEGRITY). Pure; randomness and the ECC ephemeral key are injectable.
// It does not check that the EK is genuine (ek.ts does) nor that the AK is acceptable (tpm-public.ts).
import { cfb } from '@noble/ciphers/aes.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256, sha384 } from '@noble/hashes/sha2.js';
import { parsePemBlocks } from '../../pki/index.ts';
import { tpmRejected } from './tpm-error.ts';
import { TPM_ALG, TPM_ECC_CURVE, TPMA_OBJECT, type TpmPublic } from './tpm-public.ts';

export interface EkKey {
  readonly type: 'rsa' | 'ecc';
  readonly nameAlg: number;
  readonly symKeyBits: number;
  readonly jwk: JsonWebKey;
  readonly curve: number | null;
}

export interface MadeCredential {
  /** TPM2B_ID_OBJECT. */
  readonly credentialBlob: Uint8Array;
  /** TPM2B_ENCRYPTED_SECRET. */
  readonly encryptedSecret: Uint8Array;
  /** The file `tpm2_makecredential -o` writes: magic, version, the two TPM2Bs. */
  readonly tpm2ToolsFile: Uint8Array;
}

const enc = new TextEncoder();
const u16 = (n: number) => new Uint8Array([(n >> 8) & 0xff, n & 0xff]);
const u32 = (n: number) => new Uint8Array([(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};
const tpm2b = (b: Uint8Array) => concat(u16(b.length), b);
/** base64url without padding, as JWK wants (quote.ts uses it too). */
export const b64u = (b: Uint8Array) => btoa(String.fromCharCode(...b)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const unb64u = (s: string) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));

const DIGEST_SIZES: Readonly<Record<number, number>> = { [TPM_ALG.SHA1]: 20, [TPM_ALG.SHA256]: 32, [TPM_ALG.SHA384]: 48, [TPM_ALG.SHA512]: 64 };

function hashOf(alg: number) {
  if (alg === TPM_ALG.SHA256) return { fn: sha256, size: 32, name: 'SHA-256' };
  if (alg === TPM_ALG.SHA384) return { fn: sha384, size: 48, name: 'SHA-384' };
  throw tpmRejected(`unsupported EK nameAlg 0x${alg.toString(16)}`);
}

/** TPM 2.0 Part 1 §11.4.10.2 KDFa (SP 800-108 counter mode, HMAC). */
export function kdfa(alg: number, key: Uint8Array, label: string, contextU: Uint8Array, contextV: Uint8Array, bits: number): Uint8Array {
  const h = hashOf(alg);
  const out: Uint8Array[] = [];
  for (let i = 1, have = 0; have * 8 < bits; i++) {
    const block = hmac(h.fn, key, concat(u32(i), enc.encode(label), new Uint8Array([0]), contextU, contextV, u32(bits)));
    out.push(block);
    have += block.length;
  }
  return concat(...out).slice(0, bits / 8);
}

/** TPM 2.0 Part 1 §11.4.10.3 KDFe (SP 800-56A concatenation KDF). */
export function kdfe(alg: number, z: Uint8Array, label: string, partyU: Uint8Array, partyV: Uint8Array, bits: number): Uint8Array {
  const h = hashOf(alg);
  const out: Uint8Array[] = [];
  for (let i = 1, have = 0; have * 8 < bits; i++) {
    const block = h.fn(concat(u32(i), z, enc.encode(label), new Uint8Array([0]), partyU, partyV));
    out.push(block);
    have += block.length;
  }
  return concat(...out).slice(0, bits / 8);
}

/**
 * The EK as an SPKI (certificate, or `tpm2_readpublic -f pem`). An SPKI does not carry the EK
 * template, so nameAlg and the AES key size follow the TCG EK Credential Profile templates:
 * RSA-2048 and P-256 (L-1/L-2, H-1/H-2) SHA-256 + AES-128; P-384 (H-3, swtpm's ECC EK) and
 * RSA-3072/4096 (H-6/H-7) SHA-384 + AES-256. Pass `template` for any other EK.
 */
export async function ekFromSpki(spki: Uint8Array<ArrayBuffer>, template?: { readonly nameAlg: number; readonly symKeyBits: number }): Promise<EkKey> {
  for (const alg of [{ name: 'RSA-OAEP', hash: 'SHA-256' }, { name: 'ECDH', namedCurve: 'P-256' }, { name: 'ECDH', namedCurve: 'P-384' }] as const) {
    let key: CryptoKey;
    try {
      key = await crypto.subtle.importKey('spki', spki, alg, true, alg.name === 'ECDH' ? [] : ['encrypt']);
    } catch {
      continue;
    }
    const jwk = (await crypto.subtle.exportKey('jwk', key)) as JsonWebKey;
    if (jwk.kty === 'RSA') {
      const bits = unb64u(jwk.n!).length * 8;
      if (bits !== 2048 && bits !== 3072 && bits !== 4096) throw tpmRejected(`EK: unsupported RSA key size ${bits}`);
      const t = template ?? (bits === 2048 ? PROFILE_SHA256 : PROFILE_SHA384);
      return { type: 'rsa', nameAlg: t.nameAlg, symKeyBits: t.symKeyBits, jwk: { kty: 'RSA', n: jwk.n!, e: jwk.e! }, curve: null };
    }
    if (jwk.crv === 'P-256' || jwk.crv === 'P-384') {
      const t = template ?? (jwk.crv === 'P-256' ? PROFILE_SHA256 : PROFILE_SHA384);
      const curve = jwk.crv === 'P-256' ? TPM_ECC_CURVE.NIST_P256 : TPM_ECC_CURVE.NIST_P384;
      return { type: 'ecc', nameAlg: t.nameAlg, symKeyBits: t.symKeyBits, jwk: { kty: 'EC', crv: jwk.crv, x: jwk.x!, y: jwk.y! }, curve };
    }
  }
  throw tpmRejected('EK: public key is not RSA, P-256 or P-384');
}
const PROFILE_SHA256 = { nameAlg: TPM_ALG.SHA256, symKeyBits: 128 } as const;
const PROFILE_SHA384 = { nameAlg: TPM_ALG.SHA384, symKeyBits: 256 } as const;

/** The EK from its TPM public area (exact template: nameAlg and symmetric come from it). */
export function ekFromTpmPublic(pub: TpmPublic): EkKey {
  // ActivateCredential needs a storage key: restricted, decrypt, with a symmetric algorithm.
  if (!pub.symmetric || (pub.objectAttributes & TPMA_OBJECT.restricted) === 0 || (pub.objectAttributes & TPMA_OBJECT.decrypt) === 0) {
    throw tpmRejected('EK: not a restricted decryption key with a symmetric algorithm');
  }
  const symKeyBits = pub.symmetric.keyBits;
  if (pub.rsa) {
    return { type: 'rsa', nameAlg: pub.nameAlg, symKeyBits, jwk: { kty: 'RSA', n: b64u(pub.rsa.modulus), e: b64u(u32(pub.rsa.exponent).subarray(pub.rsa.exponent > 0xffffff ? 0 : 1)) }, curve: null };
  }
  const ecc = pub.ecc!;
  return { type: 'ecc', nameAlg: pub.nameAlg, symKeyBits, jwk: { kty: 'EC', crv: ecc.curve === TPM_ECC_CURVE.NIST_P256 ? 'P-256' : 'P-384', x: b64u(ecc.x), y: b64u(ecc.y) }, curve: ecc.curve };
}

/** The EK as given: SPKI DER, a `PUBLIC KEY` PEM, or a parsed TPM2B_PUBLIC (whose template is then exact). */
export async function parseEkPublicKey(ek: Uint8Array | string | TpmPublic): Promise<EkKey> {
  if (typeof ek === 'string') {
    const block = parsePemBlocks(ek).find((b) => b.type === 'PUBLIC KEY');
    if (!block) throw tpmRejected('EK: not a PEM public key');
    return ekFromSpki(block.der);
  }
  if (ek instanceof Uint8Array) return ekFromSpki(new Uint8Array(ek));
  return ekFromTpmPublic(ek);
}

/** The EK as `ek` (already resolved) or as `ekPublicKey` (SPKI DER, PEM or TPM2B_PUBLIC). */
export type MakeCredentialInput = MakeCredentialOptions & ({ readonly ek: EkKey } | { readonly ekPublicKey: Uint8Array | string | TpmPublic });

export interface MakeCredentialOptions {
  /** The AK's TPM name (nameAlg ‖ digest). */
  readonly akName: Uint8Array;
  readonly credential: Uint8Array;
  /** RSA: the seed (tests only; default random of the nameAlg digest size). */
  readonly seed?: Uint8Array;
  /** ECC: the ephemeral private key as a JWK (tests only; default a fresh key). */
  readonly ephemeral?: JsonWebKey;
}

/** TPM2B_ID_OBJECT for a given seed: the deterministic half of MakeCredential. */
export function credentialFromSeed(ek: Pick<EkKey, 'nameAlg' | 'symKeyBits'>, akName: Uint8Array, credential: Uint8Array, seed: Uint8Array): Uint8Array {
  const h = hashOf(ek.nameAlg);
  const symKey = kdfa(ek.nameAlg, seed, 'STORAGE', akName, new Uint8Array(0), ek.symKeyBits);
  const encIdentity = cfb(symKey, new Uint8Array(16)).encrypt(tpm2b(credential));
  const hmacKey = kdfa(ek.nameAlg, seed, 'INTEGRITY', new Uint8Array(0), new Uint8Array(0), h.size * 8);
  const outerHmac = hmac(h.fn, hmacKey, concat(encIdentity, akName));
  return tpm2b(concat(tpm2b(outerHmac), encIdentity));
}

export async function makeCredential(input: MakeCredentialInput): Promise<MadeCredential> {
  const { akName, credential } = input;
  if (!(credential instanceof Uint8Array) || credential.length === 0 || credential.length > 64) throw new TypeError('credential must be 1..64 bytes');
  const akDigest = akName.length >= 2 ? DIGEST_SIZES[(akName[0]! << 8) | akName[1]!] : undefined;
  if (akDigest === undefined || akName.length !== 2 + akDigest) throw new TypeError('akName must be nameAlg (2 bytes) followed by its digest');
  const ek = 'ek' in input ? input.ek : await parseEkPublicKey(input.ekPublicKey);
  const h = hashOf(ek.nameAlg);
  if (input.seed && input.seed.length !== h.size) throw new TypeError(`seed must be ${h.size} bytes for this EK`);
  let seed: Uint8Array;
  let secret: Uint8Array;
  if (ek.type === 'rsa') {
    seed = input.seed ?? crypto.getRandomValues(new Uint8Array(h.size));
    const key = await crypto.subtle.importKey('jwk', ek.jwk, { name: 'RSA-OAEP', hash: h.name }, false, ['encrypt']);
    secret = new Uint8Array(await crypto.subtle.encrypt({ name: 'RSA-OAEP', label: enc.encode('IDENTITY\0') }, key, seed as Uint8Array<ArrayBuffer>));
  } else {
    const crv = ek.jwk.crv as 'P-256' | 'P-384';
    const size = crv === 'P-256' ? 32 : 48;
    const ephemeral = input.ephemeral
      ? await crypto.subtle.importKey('jwk', input.ephemeral, { name: 'ECDH', namedCurve: crv }, true, ['deriveBits'])
      : ((await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: crv }, true, ['deriveBits'])) as CryptoKeyPair).privateKey;
    const ephJwk = (await crypto.subtle.exportKey('jwk', ephemeral)) as JsonWebKey;
    const ekKey = await crypto.subtle.importKey('jwk', ek.jwk, { name: 'ECDH', namedCurve: crv }, false, []);
    const z = new Uint8Array(await crypto.subtle.deriveBits({ name: 'ECDH', public: ekKey } as never, ephemeral, size * 8));
    const ephX = unb64u(ephJwk.x!);
    const ephY = unb64u(ephJwk.y!);
    seed = kdfe(ek.nameAlg, z, 'IDENTITY', ephX, unb64u(ek.jwk.x!), h.size * 8);
    secret = concat(tpm2b(ephX), tpm2b(ephY));
  }
  const credentialBlob = credentialFromSeed(ek, akName, credential, seed);
  const encryptedSecret = tpm2b(secret);
  return { credentialBlob, encryptedSecret, tpm2ToolsFile: concat(new Uint8Array([0xba, 0xdc, 0xc0, 0xde, 0, 0, 0, 1]), credentialBlob, encryptedSecret) };
}
