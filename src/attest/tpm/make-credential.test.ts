// MakeCredential byte for byte with tpm2-tools 5.4 `tpm2_makecredential -T none`: against the
// stored vectors (test/vectors/tpm-makecredential.json, runs anywhere) and against a live run of
// the tool when it is installed. The EK private keys are throw-away; node:crypto plays the TPM's
// side (RSA-OAEP decrypt, ECDH) in the test only. Activation by a real TPM: *.swtpm.test.ts.
import { execFileSync, spawnSync } from 'node:child_process';
import { constants, createECDH, createPrivateKey, createPublicKey, privateDecrypt, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import vectors from '../../../test/vectors/tpm-makecredential.json' with { type: 'json' };
import swtpm from '../../../test/vectors/tpm-swtpm.json' with { type: 'json' };
import { credentialFromSeed, ekFromSpki, kdfe, makeCredential, parseEkPublicKey, parseTpm2bPublic, TPM_ALG, TpmRejectedError, type EkKey } from './index.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const unhex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
const spkiOf = (pem: string) => new Uint8Array(createPublicKey(pem).export({ type: 'spki', format: 'der' }));
type Case = (typeof vectors.cases)[number];
const byName = (n: string) => vectors.cases.find((c) => c.name === n)! as Case & { ekTpm2bPublicHex?: string };

/** Splits the tpm2_makecredential file: magic, version, TPM2B_ID_OBJECT, TPM2B_ENCRYPTED_SECRET. */
function splitToolsFile(f: Uint8Array) {
  expect(hex(f.subarray(0, 8))).toBe('badcc0de00000001');
  const idLen = (f[8]! << 8) | f[9]!;
  const secLen = (f[10 + idLen]! << 8) | f[11 + idLen]!;
  expect(12 + idLen + secLen).toBe(f.length);
  return { id: f.subarray(8, 10 + idLen), encryptedSecret: f.subarray(10 + idLen), secret: f.subarray(12 + idLen) };
}

/** The TPM's half for an ECC EK: Z = ECDH(EK private, point), seed = KDFe(nameAlg, Z, "IDENTITY", point.x, ek.x). */
function eccSeedFromPoint(ekPrivatePem: string, secret: Uint8Array, nameAlg: number): Uint8Array {
  const xLen = (secret[0]! << 8) | secret[1]!;
  const x = secret.subarray(2, 2 + xLen);
  const yLen = (secret[2 + xLen]! << 8) | secret[3 + xLen]!;
  const y = secret.subarray(4 + xLen);
  expect(y.length).toBe(yLen);
  const jwk = createPrivateKey(ekPrivatePem).export({ format: 'jwk' });
  const ecdh = createECDH(jwk.crv === 'P-256' ? 'prime256v1' : 'secp384r1');
  ecdh.setPrivateKey(Buffer.from(jwk.d!, 'base64url'));
  const z = ecdh.computeSecret(Buffer.concat([Buffer.from([4]), x, y]));
  return kdfe(nameAlg, z, 'IDENTITY', x, Buffer.from(jwk.x!, 'base64url'), nameAlg === TPM_ALG.SHA384 ? 384 : 256);
}

const rsaSeedFromSecret = (ekPrivatePem: string, secret: Uint8Array, hash = 'sha256') =>
  new Uint8Array(privateDecrypt({ key: ekPrivatePem, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash, oaepLabel: Buffer.from('IDENTITY\0') }, secret));

describe('vectors: tpm2_makecredential -T none (tpm2-tools 5.4)', () => {
  it('RSA-2048: the seed decrypted from tpm2-tools’ secret gives its TPM2B_ID_OBJECT; our file differs only in the secret', async () => {
    const v = byName('rsa-2048');
    const tools = splitToolsFile(unhex(v.tpm2ToolsFileHex));
    expect(hex(rsaSeedFromSecret(v.ekPrivateKeyPem, tools.secret))).toBe(v.seedHex);
    const ours = await makeCredential({ ekPublicKey: v.ekPublicKeyPem, akName: unhex(v.akNameHex), credential: unhex(v.credentialHex), seed: unhex(v.seedHex) });
    expect(hex(ours.credentialBlob)).toBe(hex(tools.id));
    expect(ours.tpm2ToolsFile.length).toBe(336);
    const mine = splitToolsFile(ours.tpm2ToolsFile);
    expect(hex(ours.tpm2ToolsFile.subarray(0, 8 + tools.id.length + 2))).toBe(v.tpm2ToolsFileHex.slice(0, (8 + tools.id.length + 2) * 2));
    expect(hex(mine.encryptedSecret)).toBe(hex(ours.encryptedSecret));
    expect(hex(rsaSeedFromSecret(v.ekPrivateKeyPem, mine.secret))).toBe(v.seedHex); // OAEP is randomized, the seed is not
    // SPKI DER and PEM give the same EK.
    const der = await makeCredential({ ekPublicKey: spkiOf(v.ekPublicKeyPem), akName: unhex(v.akNameHex), credential: unhex(v.credentialHex), seed: unhex(v.seedHex) });
    expect(hex(der.credentialBlob)).toBe(hex(tools.id));
  });

  it.each([
    ['ecc-p256', TPM_ALG.SHA256, 148],
    ['ecc-p384-sha384', TPM_ALG.SHA384, 196],
  ])('%s: the seed from Z and tpm2-tools’ ephemeral point gives its TPM2B_ID_OBJECT', async (name, nameAlg, fileBytes) => {
    const v = byName(name);
    const tools = splitToolsFile(unhex(v.tpm2ToolsFileHex));
    expect(tools.id.length + tools.encryptedSecret.length + 8).toBe(fileBytes);
    const seed = eccSeedFromPoint(v.ekPrivateKeyPem, tools.secret, nameAlg);
    expect(hex(seed)).toBe(v.seedHex);
    const ek: EkKey = v.ekTpm2bPublicHex ? await parseEkPublicKey(parseTpm2bPublic(unhex(v.ekTpm2bPublicHex))) : await parseEkPublicKey(v.ekPublicKeyPem);
    expect(ek.nameAlg).toBe(nameAlg);
    expect(hex(credentialFromSeed(ek, unhex(v.akNameHex), unhex(v.credentialHex), seed))).toBe(hex(tools.id));
  });

  it('P-384 EK from its SPKI assumes the profile template swtpm uses (SHA-384, AES-256): same as from its TPM2B_PUBLIC', async () => {
    const v = byName('ecc-p384-sha384');
    const fromSpki = await ekFromSpki(spkiOf(v.ekPublicKeyPem));
    const fromPublic = await parseEkPublicKey(parseTpm2bPublic(unhex(v.ekTpm2bPublicHex!)));
    expect(fromSpki).toEqual(fromPublic);
    expect(hex(credentialFromSeed(fromSpki, unhex(v.akNameHex), unhex(v.credentialHex), unhex(v.seedHex)))).toBe(hex(splitToolsFile(unhex(v.tpm2ToolsFileHex)).id));
  });

  it.each(['ecc-p256', 'ecc-p384-sha384'])('%s: our full output (injected ephemeral) opens with the EK private key; the layout is tpm2-tools’', async (name) => {
    const v = byName(name);
    const ek = await parseEkPublicKey(v.ekPublicKeyPem);
    const crv = ek.curve === 3 ? 'P-256' : 'P-384';
    const pair = (await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: crv }, true, ['deriveBits'])) as CryptoKeyPair;
    const ephemeral = (await crypto.subtle.exportKey('jwk', pair.privateKey)) as JsonWebKey;
    const ours = await makeCredential({ ekPublicKey: v.ekPublicKeyPem, akName: unhex(v.akNameHex), credential: unhex(v.credentialHex), ephemeral });
    const mine = splitToolsFile(ours.tpm2ToolsFile);
    expect(ours.tpm2ToolsFile.length).toBe(v.tpm2ToolsFileHex.length / 2);
    // The encrypted secret is the TPMS_ECC_POINT of the injected ephemeral key.
    const size = crv === 'P-256' ? 32 : 48;
    expect(hex(mine.secret)).toBe(hex(Buffer.concat([Buffer.from([0, size]), Buffer.from(ephemeral.x!, 'base64url'), Buffer.from([0, size]), Buffer.from(ephemeral.y!, 'base64url')])));
    const seed = eccSeedFromPoint(v.ekPrivateKeyPem, mine.secret, ek.nameAlg);
    expect(hex(credentialFromSeed(ek, unhex(v.akNameHex), unhex(v.credentialHex), seed))).toBe(hex(ours.credentialBlob));
    // Without an injected key, a fresh ephemeral each time.
    const a = await makeCredential({ ekPublicKey: v.ekPublicKeyPem, akName: unhex(v.akNameHex), credential: unhex(v.credentialHex) });
    expect(hex(a.encryptedSecret)).not.toBe(hex(ours.encryptedSecret));
  });
});

describe('makeCredential input checks', () => {
  const v = byName('rsa-2048');
  const base = { akName: unhex(v.akNameHex), credential: unhex(v.credentialHex) };
  it.each([
    ['a PEM that is not a public key', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', /EK: not a PEM public key/],
    ['garbage DER', new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]), /EK: public key is not RSA, P-256 or P-384/],
    ['a signing key as TPM2B_PUBLIC', parseTpm2bPublic(new Uint8Array(Buffer.from(swtpm.akPublicBase64, 'base64'))), /EK: not a restricted decryption key/],
  ])('rejects %s as the EK with TpmRejectedError', async (_n, ekPublicKey, reason) => {
    const err = await makeCredential({ ...base, ekPublicKey }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TpmRejectedError);
    expect((err as TpmRejectedError).code).toBe('attestation_rejected');
    expect((err as TpmRejectedError).reason).toMatch(reason);
  });
  it.each([
    ['an empty credential', { credential: new Uint8Array(0) }],
    ['a 65-byte credential', { credential: new Uint8Array(65) }],
    ['an AK name of the wrong length', { akName: unhex(v.akNameHex).subarray(0, 20) }],
    ['an AK name with an unknown hash', { akName: unhex('0099' + v.akNameHex.slice(4)) }],
    ['a seed of the wrong size', { seed: new Uint8Array(16) }],
  ])('refuses %s (caller mistake: TypeError)', async (_n, patch) => {
    await expect(makeCredential({ ...base, ekPublicKey: v.ekPublicKeyPem, ...patch })).rejects.toBeInstanceOf(TypeError);
  });
});

const hasMakeCredential = ['tpm2_makecredential', 'openssl'].every((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status === 0);

/** A TSS TPM2B_PUBLIC for an ECC EK with swtpm's template (restricted decrypt, AES-CFB, null scheme/kdf). */
function eccEkTpm2bPublic(jwk: JsonWebKey, nameAlg: number, aesBits: number): Uint8Array {
  const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);
  const t2b = (b: Uint8Array) => Buffer.concat([u16(b.length), b]);
  const curve = jwk.crv === 'P-256' ? 0x0003 : 0x0004;
  const tpmt = Buffer.concat([u16(TPM_ALG.ECC), u16(nameAlg), Buffer.from('000300f2', 'hex'), t2b(new Uint8Array(0)), u16(TPM_ALG.AES), u16(aesBits), u16(TPM_ALG.CFB), u16(TPM_ALG.NULL), u16(curve), u16(TPM_ALG.NULL), t2b(Buffer.from(jwk.x!, 'base64url')), t2b(Buffer.from(jwk.y!, 'base64url'))]);
  return new Uint8Array(t2b(tpmt));
}

describe.skipIf(!hasMakeCredential)('live: byte for byte with tpm2_makecredential -T none', () => {
  let dir = '';
  const path = (f: string) => join(dir, f);
  const credential = randomBytes(32);
  const akName = Buffer.concat([Buffer.from('000b', 'hex'), randomBytes(32)]);
  const tool = (...ekArgs: string[]) => {
    execFileSync('tpm2_makecredential', ['-T', 'none', ...ekArgs, '-s', path('secret.bin'), '-n', hex(akName), '-o', path('out.bin')], { stdio: 'pipe' });
    return new Uint8Array(readFileSync(path('out.bin')));
  };
  const genpkey = (name: string, ...opts: string[]) => {
    execFileSync('openssl', ['genpkey', ...opts, '-out', path(`${name}.key`)], { stdio: 'pipe' });
    const pem = createPublicKey(readFileSync(path(`${name}.key`))).export({ type: 'spki', format: 'pem' }) as string;
    writeFileSync(path(`${name}.pem`), pem);
    return { key: readFileSync(path(`${name}.key`), 'utf8'), pem };
  };
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'mkcred-'));
    writeFileSync(path('secret.bin'), credential);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('RSA-2048 EK (-G rsa -u ek.pem): same TPM2B_ID_OBJECT for the seed tpm2-tools chose, same layout', async () => {
    const ek = genpkey('rsa', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048');
    const tools = splitToolsFile(tool('-G', 'rsa', '-u', path('rsa.pem')));
    const seed = rsaSeedFromSecret(ek.key, tools.secret);
    const ours = await makeCredential({ ekPublicKey: ek.pem, akName, credential, seed });
    expect(hex(ours.credentialBlob)).toBe(hex(tools.id));
    const mine = splitToolsFile(ours.tpm2ToolsFile);
    expect(mine.encryptedSecret.length).toBe(tools.encryptedSecret.length);
    expect(hex(rsaSeedFromSecret(ek.key, mine.secret))).toBe(hex(seed));
  });

  it('ECC P-256 EK (-G ecc -u ek.pem): same TPM2B_ID_OBJECT for the seed from tpm2-tools’ ephemeral point', async () => {
    const ek = genpkey('p256', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256');
    const tools = splitToolsFile(tool('-G', 'ecc', '-u', path('p256.pem')));
    const seed = eccSeedFromPoint(ek.key, tools.secret, TPM_ALG.SHA256);
    expect(hex(credentialFromSeed(await parseEkPublicKey(ek.pem), akName, credential, seed))).toBe(hex(tools.id));
    expect((await makeCredential({ ekPublicKey: ek.pem, akName, credential })).tpm2ToolsFile.length).toBe(8 + tools.id.length + tools.encryptedSecret.length);
  });

  // tpm2-tools 5.4 loads an ECC PEM only as P-256 ("point is not on curve" for P-384), so the
  // P-384 EK goes in as a TSS TPM2B_PUBLIC, which also fixes its template (SHA-384, AES-256).
  it('ECC P-384 EK, nameAlg SHA-384 (-u ek.pub, TSS): same TPM2B_ID_OBJECT; SPKI and TPM2B_PUBLIC agree', async () => {
    const ek = genpkey('p384', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384');
    const pub = eccEkTpm2bPublic(createPrivateKey(ek.key).export({ format: 'jwk' }), TPM_ALG.SHA384, 256);
    writeFileSync(path('p384.pub'), pub);
    const tools = splitToolsFile(tool('-u', path('p384.pub')));
    const seed = eccSeedFromPoint(ek.key, tools.secret, TPM_ALG.SHA384);
    expect(hex(credentialFromSeed(await parseEkPublicKey(parseTpm2bPublic(pub)), akName, credential, seed))).toBe(hex(tools.id));
    expect(hex(credentialFromSeed(await parseEkPublicKey(ek.pem), akName, credential, seed))).toBe(hex(tools.id));
    // An AES-128 template changes the blob: the template really is an input.
    expect(hex(credentialFromSeed(await parseEkPublicKey(parseTpm2bPublic(eccEkTpm2bPublic(createPrivateKey(ek.key).export({ format: 'jwk' }), TPM_ALG.SHA384, 128))), akName, credential, seed))).not.toBe(hex(tools.id));
  });
});
