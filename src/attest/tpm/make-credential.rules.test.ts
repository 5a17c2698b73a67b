// MakeCredential's building blocks rule by rule: KDFa / KDFe as TPM 2.0 Part 1 §11.4.10 defines
// them (checked against HMAC / SHA-256 by hand), the EK profile an SPKI implies, the EK from a TPM
// public area, and the tpm2-tools file layout. The end-to-end vectors are in make-credential.test.ts.
import { constants, createHash, createHmac, createPrivateKey, createPublicKey, privateDecrypt } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import spkis from '../../../test/vectors/tpm-ek-spki.json' with { type: 'json' };
import { credentialFromSeed, ekFromSpki, ekFromTpmPublic, kdfa, kdfe, makeCredential, TPM_ALG, TPMA_OBJECT, TpmRejectedError, type TpmPublic } from './index.ts';

const bytes = (b64: string) => new Uint8Array(Buffer.from(b64, 'base64'));
const u32 = (n: number) => Buffer.from([n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
const key = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
const U = Buffer.from('aabb', 'hex');
const V = Buffer.from('ccddee', 'hex');
const reason = async (f: () => unknown) => {
  const e = await (async () => f())().then(() => null, (err: unknown) => err);
  expect(e).toBeInstanceOf(TpmRejectedError);
  return (e as TpmRejectedError).reason;
};

describe('KDFa (SP 800-108 counter mode, HMAC)', () => {
  const block = (alg: 'sha256' | 'sha384', i: number, bits: number) => createHmac(alg, key).update(Buffer.concat([u32(i), Buffer.from('STORAGE'), Buffer.from([0]), U, V, u32(bits)])).digest();
  it('one block cut to the bits asked for', () => {
    expect(Buffer.from(kdfa(TPM_ALG.SHA256, key, 'STORAGE', U, V, 128))).toEqual(block('sha256', 1, 128).subarray(0, 16));
    expect(Buffer.from(kdfa(TPM_ALG.SHA256, key, 'STORAGE', U, V, 256))).toEqual(block('sha256', 1, 256));
  });
  it('several blocks, counted from 1, each over the total bit length', () => {
    expect(Buffer.from(kdfa(TPM_ALG.SHA256, key, 'STORAGE', U, V, 512))).toEqual(Buffer.concat([block('sha256', 1, 512), block('sha256', 2, 512)]));
    expect(Buffer.from(kdfa(TPM_ALG.SHA256, key, 'STORAGE', U, V, 264))).toEqual(Buffer.concat([block('sha256', 1, 264), block('sha256', 2, 264)]).subarray(0, 33));
    expect(Buffer.from(kdfa(TPM_ALG.SHA384, key, 'STORAGE', U, V, 384))).toEqual(block('sha384', 1, 384));
  });
  it('refuses a nameAlg it does not implement', async () => {
    expect(await reason(() => kdfa(TPM_ALG.SHA1, key, 'STORAGE', U, V, 128))).toBe('unsupported EK nameAlg 0x4');
    expect(await reason(() => kdfa(TPM_ALG.SHA512, key, 'STORAGE', U, V, 128))).toBe('unsupported EK nameAlg 0xd');
  });
});

describe('KDFe (SP 800-56A concatenation)', () => {
  const block = (alg: 'sha256' | 'sha384', i: number) => createHash(alg).update(Buffer.concat([u32(i), key, Buffer.from('IDENTITY'), Buffer.from([0]), U, V])).digest();
  it('hash(counter ‖ Z ‖ label ‖ 0 ‖ U ‖ V), blocks counted from 1', () => {
    expect(Buffer.from(kdfe(TPM_ALG.SHA256, key, 'IDENTITY', U, V, 256))).toEqual(block('sha256', 1));
    expect(Buffer.from(kdfe(TPM_ALG.SHA256, key, 'IDENTITY', U, V, 384))).toEqual(Buffer.concat([block('sha256', 1), block('sha256', 2)]).subarray(0, 48));
    expect(Buffer.from(kdfe(TPM_ALG.SHA384, key, 'IDENTITY', U, V, 384))).toEqual(block('sha384', 1));
  });
});

describe('the EK profile an SPKI implies (TCG EK Credential Profile templates)', () => {
  it('RSA-2048 and P-256: SHA-256 + AES-128; RSA-3072/4096 and P-384: SHA-384 + AES-256', async () => {
    const rsa3072 = await ekFromSpki(bytes(spkis.rsa3072));
    expect(rsa3072).toMatchObject({ type: 'rsa', nameAlg: TPM_ALG.SHA384, symKeyBits: 256, curve: null });
    expect(Object.keys(rsa3072.jwk).sort()).toEqual(['e', 'kty', 'n']);
    expect(rsa3072.jwk.e).toBe('AQAB');
    expect(await ekFromSpki(bytes(spkis.rsa4096))).toMatchObject({ type: 'rsa', nameAlg: TPM_ALG.SHA384, symKeyBits: 256 });
    const p256 = (await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, true, ['deriveBits'])) as CryptoKeyPair;
    const ek = await ekFromSpki(new Uint8Array(await crypto.subtle.exportKey('spki', p256.publicKey)));
    expect(ek).toMatchObject({ type: 'ecc', nameAlg: TPM_ALG.SHA256, symKeyBits: 128, curve: 0x0003 });
    expect(Object.keys(ek.jwk).sort()).toEqual(['crv', 'kty', 'x', 'y']);
    expect(ek.jwk.crv).toBe('P-256');
    const p384 = (await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-384' }, true, ['deriveBits'])) as CryptoKeyPair;
    expect(await ekFromSpki(new Uint8Array(await crypto.subtle.exportKey('spki', p384.publicKey)))).toMatchObject({ type: 'ecc', nameAlg: TPM_ALG.SHA384, symKeyBits: 256, curve: 0x0004 });
  });
  it('an RSA-3072 EK (SHA-384 profile): the seed is OAEP-encrypted with SHA-384 and label IDENTITY, and is 48 bytes', async () => {
    const privateKey = createPrivateKey({ key: Buffer.from(spkis.rsa3072Pkcs8, 'base64'), format: 'der', type: 'pkcs8' });
    const ek = await ekFromSpki(new Uint8Array(createPublicKey(privateKey).export({ type: 'spki', format: 'der' })));
    const akName = new Uint8Array([0x00, 0x0b, ...new Array(32).fill(0x5a)]);
    const credential = new Uint8Array(32).fill(9);
    const made = await makeCredential({ ek, akName, credential });
    expect((made.encryptedSecret[0]! << 8) | made.encryptedSecret[1]!).toBe(384);
    const seed = privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha384', oaepLabel: Buffer.from('IDENTITY\0') }, made.encryptedSecret.subarray(2));
    expect(seed.length).toBe(48);
    expect(made.credentialBlob).toEqual(credentialFromSeed(ek, akName, credential, new Uint8Array(seed)));
  });
  it('a template given wins over the profile', async () => {
    expect(await ekFromSpki(bytes(spkis.rsa3072), { nameAlg: TPM_ALG.SHA256, symKeyBits: 128 })).toMatchObject({ nameAlg: TPM_ALG.SHA256, symKeyBits: 128 });
  });
  it('refuses RSA sizes no EK profile has, and keys that are neither RSA nor P-256/P-384', async () => {
    expect(await reason(() => ekFromSpki(bytes(spkis.rsa1024)))).toBe('EK: unsupported RSA key size 1024');
    expect(await reason(() => ekFromSpki(bytes(spkis.ed25519)))).toBe('EK: public key is not RSA, P-256 or P-384');
    expect(await reason(() => ekFromSpki(bytes(spkis.p521)))).toBe('EK: public key is not RSA, P-256 or P-384');
  });
});

describe('the EK from its TPM public area', () => {
  const attrs = TPMA_OBJECT.restricted | TPMA_OBJECT.decrypt;
  const rsaPub = (exponent: number, over: Partial<TpmPublic> = {}) =>
    ({ type: 'rsa', nameAlg: TPM_ALG.SHA256, objectAttributes: attrs, symmetric: { algorithm: TPM_ALG.AES, keyBits: 128, mode: TPM_ALG.CFB }, rsa: { keyBits: 2048, exponent, modulus: new Uint8Array([0xfb, 0xff]) }, ecc: null, ...over }) as unknown as TpmPublic;
  it('takes nameAlg and the AES size from the template, the exponent in its shortest big-endian form up to 3 bytes', () => {
    expect(ekFromTpmPublic(rsaPub(65537))).toEqual({ type: 'rsa', nameAlg: TPM_ALG.SHA256, symKeyBits: 128, jwk: { kty: 'RSA', n: '-_8', e: 'AQAB' }, curve: null });
    expect(ekFromTpmPublic(rsaPub(0x1000001)).jwk.e).toBe(Buffer.from([1, 0, 0, 1]).toString('base64url'));
    expect(ekFromTpmPublic(rsaPub(0xffffff)).jwk.e).toBe(Buffer.from([0xff, 0xff, 0xff]).toString('base64url'));
  });
  it('an ECC EK names its curve', () => {
    const ecc = (curve: number) => ({ type: 'ecc', nameAlg: TPM_ALG.SHA384, objectAttributes: attrs, symmetric: { algorithm: TPM_ALG.AES, keyBits: 256, mode: TPM_ALG.CFB }, rsa: null, ecc: { curve, kdf: null, x: new Uint8Array([1]), y: new Uint8Array([2]) } }) as unknown as TpmPublic;
    expect(ekFromTpmPublic(ecc(0x0003))).toEqual({ type: 'ecc', nameAlg: TPM_ALG.SHA384, symKeyBits: 256, jwk: { kty: 'EC', crv: 'P-256', x: 'AQ', y: 'Ag' }, curve: 0x0003 });
    expect(ekFromTpmPublic(ecc(0x0004)).jwk.crv).toBe('P-384');
  });
  it('refuses a key that cannot receive a credential: not restricted, not decrypt, or without a symmetric algorithm', async () => {
    const why = 'EK: not a restricted decryption key with a symmetric algorithm';
    expect(await reason(() => ekFromTpmPublic(rsaPub(65537, { symmetric: null })))).toBe(why);
    expect(await reason(() => ekFromTpmPublic(rsaPub(65537, { objectAttributes: TPMA_OBJECT.decrypt })))).toBe(why);
    expect(await reason(() => ekFromTpmPublic(rsaPub(65537, { objectAttributes: TPMA_OBJECT.restricted })))).toBe(why);
  });
});

describe('makeCredential limits', () => {
  const ek = async () => ekFromSpki(new Uint8Array(await crypto.subtle.exportKey('spki', ((await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, true, ['deriveBits'])) as CryptoKeyPair).publicKey)));
  const akName = new Uint8Array([0x00, 0x0b, ...new Uint8Array(32).fill(3)]);
  it('a credential of 1 to 64 bytes; AK names of SHA-1/256/384/512 with their digest lengths; the tpm2-tools file', async () => {
    const k = await ek();
    for (const credential of [new Uint8Array(1), new Uint8Array(64)]) {
      const made = await makeCredential({ ek: k, akName, credential });
      expect([...made.tpm2ToolsFile.slice(0, 8)]).toEqual([0xba, 0xdc, 0xc0, 0xde, 0, 0, 0, 1]);
      expect(Buffer.from(made.tpm2ToolsFile.slice(8))).toEqual(Buffer.concat([made.credentialBlob, made.encryptedSecret]));
      // TPM2B_ENCRYPTED_SECRET of a P-256 EK: the ephemeral point, x and y as TPM2Bs.
      expect([...made.encryptedSecret.slice(0, 4)]).toEqual([0, 68, 0, 32]);
    }
    for (const [alg, size] of [[0x0004, 20], [0x000c, 48], [0x000d, 64]] as const) {
      await expect(makeCredential({ ek: k, akName: new Uint8Array([0, alg, ...new Uint8Array(size)]), credential: new Uint8Array(8) })).resolves.toBeDefined();
      await expect(makeCredential({ ek: k, akName: new Uint8Array([0, alg, ...new Uint8Array(size + 1)]), credential: new Uint8Array(8) })).rejects.toThrow('akName must be nameAlg (2 bytes) followed by its digest');
    }
    await expect(makeCredential({ ek: k, akName: new Uint8Array([0]), credential: new Uint8Array(8) })).rejects.toThrow('akName must be nameAlg (2 bytes) followed by its digest');
    await expect(makeCredential({ ek: k, akName, credential: new Uint8Array(65) })).rejects.toThrow('credential must be 1..64 bytes');
    await expect(makeCredential({ ek: k, akName, credential: [1] as never })).rejects.toThrow('credential must be 1..64 bytes');
    await expect(makeCredential({ ek: k, akName, credential: new Uint8Array(8), seed: new Uint8Array(31) })).rejects.toThrow('seed must be 32 bytes for this EK');
  });
});
