// TPM2_Quote verification on quotes built here to the TPM 2.0 Part 2 layouts (TPMS_ATTEST §10.12.8,
// TPMS_QUOTE_INFO §10.12.4, TPML_PCR_SELECTION §10.9.7, TPMT_SIGNATURE §11.3.4) and signed with
// WebCrypto keys standing in for the AK: every field and every refusal, without a TPM. The same
// checks against real tpm2_quote output run in quote.test.ts (swtpm).
import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import keys from '../../../test/vectors/tpm-quote-keys.json' with { type: 'json' };
import { createMemoryChallengeStore } from '../../store/memory.ts';
import { quoteNonceHex } from './challenge.ts';
import { computeTpmName, createTpmVerifier, parseQuote, parseTpm2bPublic, TPM_ALG, TPMA_OBJECT, verifyQuote, type PcrPolicy, type TpmPublic } from './index.ts';

const u16 = (n: number) => [(n >> 8) & 0xff, n & 0xff];
const u32 = (n: number) => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
const tpm2b = (b: ArrayLike<number>) => [...u16(b.length), ...Array.from(b)];
const bytes = (...parts: number[][]) => new Uint8Array(parts.flat());
const b64u = (s: string) => new Uint8Array(Buffer.from(s, 'base64url'));

const NONCE = new Uint8Array(createHash('sha256').update('challenge').digest());
const PCR_DIGEST = new Uint8Array(32).fill(0xab);
const POLICY: PcrPolicy = { pcrs: [7, 0, 1, 2, 3], allowedDigests: [Buffer.from(PCR_DIGEST).toString('hex')] };

interface QuoteFields {
  magic?: number;
  type?: number;
  signer?: number[];
  extraData?: ArrayLike<number>;
  /** Each bank: hash alg and its pcrSelect bytes. */
  banks?: { hash: number; select: number[] }[];
  count?: number;
  digest?: ArrayLike<number>;
  trailing?: number[];
}
/** TPMS_ATTEST of a quote: magic, type, qualifiedSigner, extraData, clockInfo, firmwareVersion, TPMS_QUOTE_INFO. */
function attest(f: QuoteFields = {}): Uint8Array<ArrayBuffer> {
  const banks = f.banks ?? [{ hash: TPM_ALG.SHA256, select: [0x8f, 0x00, 0x00] }]; // PCRs 0,1,2,3,7
  return bytes(
    u32(f.magic ?? 0xff544347),
    u16(f.type ?? 0x8018),
    tpm2b(f.signer ?? [0x00, 0x0b, ...new Array(32).fill(7)]),
    tpm2b(f.extraData ?? NONCE),
    new Array(17).fill(1),
    new Array(8).fill(2),
    u32(f.count ?? banks.length),
    ...banks.map((b) => [...u16(b.hash), b.select.length, ...b.select]),
    tpm2b(f.digest ?? PCR_DIGEST),
    f.trailing ?? [],
  ) as Uint8Array<ArrayBuffer>;
}

type Ak = { pub: TpmPublic; sign: (msg: Uint8Array, hash?: 'SHA-256' | 'SHA-384') => Promise<Uint8Array> };
let rsa: Ak;
let rsaE3: Ak;
let p256: Ak;
let p384: Ak;
let other: Ak;

/** A TpmPublic for a stored test key (test/vectors/tpm-quote-keys.json), through the real TPM2B_PUBLIC parser (restricted signing AK). */
async function rsaAk(which: 'rsa' | 'other' | 'rsaE3'): Promise<Ak> {
  const privateKey = createPrivateKey({ key: keys[which] as unknown as import('node:crypto').JsonWebKey, format: 'jwk' });
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' });
  const publicExponent = Buffer.from(jwk.e!, 'base64url').readUIntBE(0, Buffer.from(jwk.e!, 'base64url').length);
  const attrs = TPMA_OBJECT.fixedTPM | TPMA_OBJECT.fixedParent | TPMA_OBJECT.sensitiveDataOrigin | TPMA_OBJECT.userWithAuth | TPMA_OBJECT.restricted | TPMA_OBJECT.sign;
  const tpmt = bytes(u16(TPM_ALG.RSA), u16(TPM_ALG.SHA256), u32(attrs), tpm2b([]), u16(TPM_ALG.NULL), u16(TPM_ALG.RSASSA), u16(TPM_ALG.SHA256), u16(2048), u32(publicExponent === 65537 ? 0 : publicExponent), tpm2b(b64u(jwk.n!)));
  const pub = parseTpm2bPublic(bytes(tpm2b(tpmt)));
  const key = await crypto.subtle.importKey('jwk', privateKey.export({ format: 'jwk' }) as JsonWebKey, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['sign']);
  const key384 = await crypto.subtle.importKey('jwk', privateKey.export({ format: 'jwk' }) as JsonWebKey, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-384' }, false, ['sign']);
  return { pub, sign: async (msg, hash = 'SHA-256') => new Uint8Array(await crypto.subtle.sign('RSASSA-PKCS1-v1_5', hash === 'SHA-256' ? key : key384, msg as Uint8Array<ArrayBuffer>)) };
}
async function eccAk(crv: 'P-256' | 'P-384'): Promise<Ak> {
  const pair = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: crv }, true, ['sign', 'verify'])) as CryptoKeyPair;
  const jwk = (await crypto.subtle.exportKey('jwk', pair.publicKey)) as JsonWebKey;
  const pub = { type: 'ecc', nameAlg: TPM_ALG.SHA256, rsa: null, ecc: { curve: crv === 'P-256' ? 3 : 4, kdf: null, x: b64u(jwk.x!), y: b64u(jwk.y!) } } as unknown as TpmPublic;
  return { pub, sign: async (msg, hash = 'SHA-256') => new Uint8Array(await crypto.subtle.sign({ name: 'ECDSA', hash }, pair.privateKey, msg as Uint8Array<ArrayBuffer>)) };
}
/** TPMT_SIGNATURE: RSASSA (hash, TPM2B sig) or ECDSA (hash, TPM2B r, TPM2B s). */
async function signature(ak: Ak, msg: Uint8Array, o: { hash?: number; sigAlg?: number; r?: (r: number[]) => number[]; s?: (s: number[]) => number[] } = {}): Promise<Uint8Array> {
  const hash = o.hash ?? TPM_ALG.SHA256;
  const raw = [...(await ak.sign(msg, hash === TPM_ALG.SHA384 ? 'SHA-384' : 'SHA-256'))];
  if (ak.pub.rsa) return bytes(u16(o.sigAlg ?? TPM_ALG.RSASSA), u16(hash), tpm2b(raw));
  const half = raw.length / 2;
  const r = (o.r ?? ((x) => x))(raw.slice(0, half));
  const s = (o.s ?? ((x) => x))(raw.slice(half));
  return bytes(u16(o.sigAlg ?? TPM_ALG.ECDSA), u16(hash), tpm2b(r), tpm2b(s));
}
const reason = async (p: Promise<unknown>) => {
  const e = (await p.then(() => null, (err: unknown) => err)) as { code?: string; reason?: string } | null;
  expect(e?.code).toBe('attestation_rejected');
  return e!.reason;
};

beforeAll(async () => {
  [rsa, rsaE3, p256, p384, other] = await Promise.all([rsaAk('rsa'), rsaAk('rsaE3'), eccAk('P-256'), eccAk('P-384'), rsaAk('other')]);
});

describe('verifyQuote on TPM 2.0 layouts', () => {
  it('accepts a quote by an RSA AK and gives what it quoted', async () => {
    const msg = attest();
    const q = await verifyQuote(rsa.pub, msg, await signature(rsa, msg), NONCE, POLICY);
    expect(q).toEqual({ extraData: NONCE, selection: [{ hash: TPM_ALG.SHA256, pcrs: [0, 1, 2, 3, 7] }], pcrDigest: PCR_DIGEST });
  });

  it('accepts RSASSA over SHA-384, an AK exponent other than 65537, and ECDSA P-256 / P-384 AKs', async () => {
    const msg = attest();
    await expect(verifyQuote(rsa.pub, msg, await signature(rsa, msg, { hash: TPM_ALG.SHA384 }), NONCE, POLICY)).resolves.toBeDefined();
    expect(rsaE3.pub.rsa!.exponent).toBe(3);
    await expect(verifyQuote(rsaE3.pub, msg, await signature(rsaE3, msg), NONCE, POLICY)).resolves.toBeDefined();
    await expect(verifyQuote(p256.pub, msg, await signature(p256, msg), NONCE, POLICY)).resolves.toBeDefined();
    await expect(verifyQuote(p384.pub, msg, await signature(p384, msg, { hash: TPM_ALG.SHA384 }), NONCE, POLICY)).resolves.toBeDefined();
  });

  /** A P-256 signature over `msg` whose r (or s) starts with a zero byte, encoded without it as a TPM does. */
  async function withoutLeadingZero(msg: Uint8Array, part: 'r' | 's'): Promise<Uint8Array> {
    for (let i = 0; i < 4000; i++) {
      const raw = [...(await p256.sign(msg))];
      if (part === 'r' && raw[0] === 0) return bytes(u16(TPM_ALG.ECDSA), u16(TPM_ALG.SHA256), tpm2b(raw.slice(1, 32)), tpm2b(raw.slice(32)));
      if (part === 's' && raw[32] === 0) return bytes(u16(TPM_ALG.ECDSA), u16(TPM_ALG.SHA256), tpm2b(raw.slice(0, 32)), tpm2b(raw.slice(33)));
    }
    throw new Error(`no signature with a leading zero in ${part} after 4000 tries`);
  }

  it('ECDSA r and s are integers: a leading zero byte added or dropped changes nothing', async () => {
    const msg = attest();
    await expect(verifyQuote(p256.pub, msg, await signature(p256, msg, { r: (r) => [0, ...r] }), NONCE, POLICY)).resolves.toBeDefined();
    // A signature whose r has a leading zero byte, sent the way a TPM does: without it.
    await expect(verifyQuote(p256.pub, msg, await withoutLeadingZero(msg, 'r'), NONCE, POLICY)).resolves.toBeDefined();
  });

  it('the same for s: with a leading zero byte added, and without the one it has', async () => {
    const msg = attest();
    await expect(verifyQuote(p256.pub, msg, await signature(p256, msg, { s: (s) => [0, ...s] }), NONCE, POLICY)).resolves.toBeDefined();
    await expect(verifyQuote(p384.pub, msg, await signature(p384, msg, { hash: TPM_ALG.SHA384, s: (s) => [0, 0, ...s] }), NONCE, POLICY)).resolves.toBeDefined();
    await expect(verifyQuote(p256.pub, msg, await withoutLeadingZero(msg, 's'), NONCE, POLICY)).resolves.toBeDefined();
  });

  it('refuses a signature by another key, over another message, or in an algorithm the AK does not have', async () => {
    const msg = attest();
    expect(await reason(verifyQuote(rsa.pub, msg, await signature(other, msg), NONCE, POLICY))).toBe('quote: signature does not verify with the AK');
    expect(await reason(verifyQuote(p256.pub, msg, await signature(p256, attest({ digest: new Uint8Array(32) })), NONCE, POLICY))).toBe('quote: signature does not verify with the AK');
    expect(await reason(verifyQuote(rsa.pub, msg, await signature(rsa, msg, { sigAlg: TPM_ALG.ECDSA }), NONCE, POLICY))).toBe('quote: signature algorithm does not match the AK');
    expect(await reason(verifyQuote(p256.pub, msg, await signature(p256, msg, { sigAlg: TPM_ALG.RSASSA }), NONCE, POLICY))).toBe('quote: signature algorithm does not match the AK');
    expect(await reason(verifyQuote(rsa.pub, msg, await signature(rsa, msg, { hash: TPM_ALG.SHA1 }), NONCE, POLICY))).toBe('quote: unsupported signature hash');
    // The hash named in the signature is the one verified with.
    const sig = await signature(rsa, msg, { hash: TPM_ALG.SHA384 });
    sig.set(u16(TPM_ALG.SHA256), 2);
    expect(await reason(verifyQuote(rsa.pub, msg, sig, NONCE, POLICY))).toBe('quote: signature does not verify with the AK');
  });

  it('refuses a quote over another nonce', async () => {
    const msg = attest({ extraData: new Uint8Array(32).fill(1) });
    expect(await reason(verifyQuote(rsa.pub, msg, await signature(rsa, msg), NONCE, POLICY))).toBe('quote: nonce mismatch (stale or replayed quote)');
  });

  it('the PCR selection must be exactly the policy’s PCRs, in the sha256 bank alone', async () => {
    const cases: [string, QuoteFields][] = [
      ['fewer PCRs', { banks: [{ hash: TPM_ALG.SHA256, select: [0x0f, 0, 0] }] }],
      ['more PCRs', { banks: [{ hash: TPM_ALG.SHA256, select: [0x8f, 0x01, 0] }] }],
      ['the sha1 bank', { banks: [{ hash: TPM_ALG.SHA1, select: [0x8f, 0, 0] }] }],
      ['two banks', { banks: [{ hash: TPM_ALG.SHA256, select: [0x8f, 0, 0] }, { hash: TPM_ALG.SHA1, select: [0, 0, 0] }] }],
      ['the sha256 bank twice', { banks: [{ hash: TPM_ALG.SHA256, select: [0x8f, 0, 0] }, { hash: TPM_ALG.SHA256, select: [0x8f, 0, 0] }] }],
      ['no bank', { banks: [] }],
    ];
    for (const [, f] of cases) {
      const msg = attest(f);
      expect(await reason(verifyQuote(rsa.pub, msg, await signature(rsa, msg), NONCE, POLICY))).toBe('quote: PCR selection is not sha256:0,1,2,3,7');
    }
    // PCRs beyond the first byte: 8 and 23 are bits 0 and 7 of the second and third bytes.
    const msg = attest({ banks: [{ hash: TPM_ALG.SHA256, select: [0x00, 0x01, 0x80] }] });
    const q = await verifyQuote(rsa.pub, msg, await signature(rsa, msg), NONCE, { pcrs: [23, 8], allowedDigests: POLICY.allowedDigests });
    expect(q.selection).toEqual([{ hash: TPM_ALG.SHA256, pcrs: [8, 23] }]);
  });

  it('refuses a PCR digest outside the allow-list, naming it', async () => {
    const msg = attest({ digest: new Uint8Array(32).fill(0xcd) });
    expect(await reason(verifyQuote(rsa.pub, msg, await signature(rsa, msg), NONCE, POLICY))).toBe(`quote: PCR digest ${'cd'.repeat(32)} is not allowed`);
  });
});

describe('parseQuote refuses what is not a well-formed quote', () => {
  const refused = (msg: Uint8Array) => {
    try {
      parseQuote(msg);
    } catch (e) {
      expect((e as { code: string }).code).toBe('attestation_rejected');
      return (e as { reason: string }).reason;
    }
    throw new Error('accepted');
  };

  it('magic, type, sizes, counts, truncation and trailing bytes', () => {
    expect(refused(attest({ magic: 0xff544348 }))).toBe('quote: not TPM-generated');
    expect(refused(attest({ magic: 0x7f544347 }))).toBe('quote: not TPM-generated');
    expect(refused(attest({ type: 0x8014 }))).toBe('quote: not a quote');
    expect(refused(attest({ signer: new Array(69).fill(0) }))).toBe('quote: field too large');
    expect(parseQuote(attest({ signer: new Array(68).fill(0) })).extraData).toEqual(NONCE);
    expect(refused(attest({ extraData: new Uint8Array(65) }))).toBe('quote: field too large');
    expect(parseQuote(attest({ extraData: new Uint8Array(64).fill(9) })).extraData).toEqual(new Uint8Array(64).fill(9));
    expect(refused(attest({ count: 5, banks: [] }))).toBe('quote: too many PCR banks');
    const four = [0, 1, 2, 3].map(() => ({ hash: TPM_ALG.SHA256, select: [1] }));
    expect(parseQuote(attest({ banks: four })).selection).toHaveLength(4);
    expect(refused(attest({ banks: [{ hash: TPM_ALG.SHA256, select: [0, 0, 0, 0, 1] }] }))).toBe('quote: bad PCR select size');
    expect(parseQuote(attest({ banks: [{ hash: TPM_ALG.SHA256, select: [0, 0, 0, 1] }] })).selection).toEqual([{ hash: TPM_ALG.SHA256, pcrs: [24] }]);
    expect(refused(attest({ digest: new Uint8Array(65) }))).toBe('quote: field too large');
    expect(refused(attest({ trailing: [0] }))).toBe('quote: trailing bytes');
    const whole = attest();
    for (const cut of [0, 3, 5, 40, whole.length - 1]) expect(refused(whole.slice(0, cut))).toBe('quote: truncated');
  });

  it('reads big-endian fields: the digest and extraData come back byte for byte', () => {
    const digest = Uint8Array.from({ length: 48 }, (_, i) => i);
    expect(parseQuote(attest({ digest })).pcrDigest).toEqual(digest);
  });
});

describe('the tpm verifier with a PCR policy', () => {
  const CHALLENGE = '123e4567-e89b-42d3-a456-426614174000';
  const nonce = () => Uint8Array.from(Buffer.from(quoteNonceHex(CHALLENGE), 'hex'));
  const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
  const akPublic = () => b64(bytes(tpm2b(rsa.pub.tpmtPublic)));

  it('binds the verified quote to the AK that signed it, and refuses a missing part', async () => {
    const challenges = createMemoryChallengeStore();
    await challenges.put({ id: CHALLENGE, machineId: 'edge-q', kind: 'tpm', secretSha256: 'f'.repeat(64), ekSha256: 'e'.repeat(64), issuedAt: 0, expiresAt: 1 });
    const v = createTpmVerifier(challenges, POLICY);
    const msg = attest({ extraData: nonce() });
    const body = { method: 'tpm', challengeId: CHALLENGE, secret: b64(new Uint8Array(32).fill(1)), akPublic: akPublic(), quote: { message: b64(msg), signature: b64(await signature(rsa, msg)) } };
    const ev = await v.verify(body, new Date());
    expect(ev).toEqual({
      machineId: 'edge-q',
      proof: { method: 'tpm', challenge: await challenges.get(CHALLENGE), secretSha256: createHash('sha256').update(new Uint8Array(32).fill(1)).digest('hex'), quotedAkName: Buffer.from(computeTpmName(rsa.pub)).toString('hex') },
      usedJwt: null,
    });
    for (const broken of [{ ...body, quote: undefined }, { ...body, akPublic: undefined }, { ...body, quote: { message: body.quote.message } }, { ...body, quote: { signature: body.quote.signature } }, { ...body, quote: { ...body.quote, message: 'A'.repeat(2049) } }]) {
      expect(await reason(v.verify(broken, new Date()))).toBe('quote: missing quote.message, quote.signature or akPublic');
    }
    // Each part is a base64 string of at most 2,048 characters: a longer one, or a number, is
    // missing (not decoded); one of exactly 2,048 characters is decoded and judged as a quote.
    for (const message of ['A'.repeat(2052), 1234]) {
      expect(await reason(v.verify({ ...body, quote: { ...body.quote, message } }, new Date()))).toBe('quote: missing quote.message, quote.signature or akPublic');
    }
    expect(await reason(v.verify({ ...body, quote: { ...body.quote, message: 'A'.repeat(2048) } }, new Date()))).toBe('quote: not TPM-generated');
    // The quote must be over this challenge's nonce.
    const stale = attest();
    expect(await reason(v.verify({ ...body, quote: { message: b64(stale), signature: b64(await signature(rsa, stale)) } }, new Date()))).toMatch(/nonce mismatch/);
    // Without a policy no quote is read and no AK name is claimed.
    const plain = await createTpmVerifier(challenges).verify({ ...body, quote: undefined }, new Date());
    expect(plain.proof).not.toHaveProperty('quotedAkName');
  });
});
