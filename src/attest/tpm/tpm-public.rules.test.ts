// TPMT_PUBLIC fields the swtpm vectors do not vary (tpm-public.test.ts covers those): schemes with
// and without details, ECC KDFs, the exponent's default, SHA-384 names, attribute names, and the
// AK rules on keys built here to the TPM 2.0 Part 2 §12.2 layout.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { akNameHex, computeTpmName, hashFor, parseTpm2bPublic, parseTpmtPublic, TPM_ALG, TPMA_OBJECT, TpmRejectedError, validateAttestationKey, type TpmPublic } from './index.ts';

const u16 = (n: number) => [(n >> 8) & 0xff, n & 0xff];
const u32 = (n: number) => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
const t2b = (b: number[]) => [...u16(b.length), ...b];
const AK_ATTRS = TPMA_OBJECT.fixedTPM | TPMA_OBJECT.fixedParent | TPMA_OBJECT.sensitiveDataOrigin | TPMA_OBJECT.userWithAuth | TPMA_OBJECT.restricted | TPMA_OBJECT.sign;

function rsa(o: { nameAlg?: number; attrs?: number; scheme?: number[]; exponent?: number; bits?: number } = {}) {
  const bits = o.bits ?? 2048;
  return new Uint8Array([...u16(TPM_ALG.RSA), ...u16(o.nameAlg ?? TPM_ALG.SHA256), ...u32(o.attrs ?? AK_ATTRS), ...t2b([]), ...u16(TPM_ALG.NULL), ...(o.scheme ?? [...u16(TPM_ALG.RSASSA), ...u16(TPM_ALG.SHA256)]), ...u16(bits), ...u32(o.exponent ?? 0), ...t2b(new Array(bits / 8).fill(0xa5))]);
}
function ecc(o: { curve?: number; scheme?: number[]; kdf?: number[]; size?: number; attrs?: number } = {}) {
  const size = o.size ?? 32;
  return new Uint8Array([...u16(TPM_ALG.ECC), ...u16(TPM_ALG.SHA256), ...u32(o.attrs ?? AK_ATTRS), ...t2b([]), ...u16(TPM_ALG.NULL), ...(o.scheme ?? [...u16(TPM_ALG.ECDSA), ...u16(TPM_ALG.SHA256)]), ...u16(o.curve ?? 0x0003), ...(o.kdf ?? u16(TPM_ALG.NULL)), ...t2b(new Array(size).fill(1)), ...t2b(new Array(size).fill(2))]);
}
const reason = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(TpmRejectedError);
    return (e as TpmRejectedError).reason;
  }
  throw new Error('accepted');
};

describe('TPMT_PUBLIC details', () => {
  it('an RSA key: stored exponent 0 is 65537, another odd exponent from 3 is kept; 1 and even ones are refused', () => {
    expect(parseTpmtPublic(rsa()).rsa).toMatchObject({ keyBits: 2048, exponent: 65537 });
    expect(parseTpmtPublic(rsa({ exponent: 3 })).rsa!.exponent).toBe(3);
    expect(parseTpmtPublic(rsa({ exponent: 0xffffffff })).rsa!.exponent).toBe(0xffffffff);
    expect(reason(() => parseTpmtPublic(rsa({ exponent: 1 })))).toBe('TPMT_PUBLIC: bad RSA exponent 1');
    expect(reason(() => parseTpmtPublic(rsa({ exponent: 2 })))).toBe('TPMT_PUBLIC: bad RSA exponent 2');
    for (const bits of [1024, 3072, 4096]) expect(parseTpmtPublic(rsa({ bits })).rsa!.keyBits).toBe(bits);
  });

  it('schemes: RSAES carries no hash, ECDAA a count, NULL nothing', () => {
    expect(parseTpmtPublic(rsa({ scheme: u16(TPM_ALG.RSAES) })).scheme).toEqual({ algorithm: TPM_ALG.RSAES, hashAlg: null, count: null });
    expect(parseTpmtPublic(rsa({ scheme: [...u16(TPM_ALG.RSAPSS), ...u16(TPM_ALG.SHA384)] })).scheme).toEqual({ algorithm: TPM_ALG.RSAPSS, hashAlg: TPM_ALG.SHA384, count: null });
    expect(parseTpmtPublic(rsa({ scheme: u16(TPM_ALG.NULL) })).scheme).toEqual({ algorithm: TPM_ALG.NULL, hashAlg: null, count: null });
    expect(parseTpmtPublic(ecc({ scheme: [...u16(TPM_ALG.ECDAA), ...u16(TPM_ALG.SHA256), ...u16(9)] })).scheme).toEqual({ algorithm: TPM_ALG.ECDAA, hashAlg: TPM_ALG.SHA256, count: 9 });
    expect(reason(() => parseTpmtPublic(rsa({ scheme: [...u16(TPM_ALG.OAEP), ...u16(0x0099)] })))).toBe('TPMT_PUBLIC: unknown scheme hashAlg 0x0099');
  });

  it('ECC: a KDF with its hash; P-384 points of 48 bytes', () => {
    expect(parseTpmtPublic(ecc({ kdf: [...u16(TPM_ALG.KDF2), ...u16(TPM_ALG.SHA512)] })).ecc!.kdf).toEqual({ algorithm: TPM_ALG.KDF2, hashAlg: TPM_ALG.SHA512 });
    expect(parseTpmtPublic(ecc()).ecc!.kdf).toBeNull();
    expect(reason(() => parseTpmtPublic(ecc({ kdf: [...u16(TPM_ALG.MGF1), ...u16(0x0099)] })))).toBe('TPMT_PUBLIC: unknown kdf hashAlg 0x0099');
    const p384 = parseTpmtPublic(ecc({ curve: 0x0004, size: 48 }));
    expect([p384.ecc!.curve, p384.ecc!.x.length, p384.ecc!.y.length]).toEqual([0x0004, 48, 48]);
    expect(reason(() => parseTpmtPublic(ecc({ curve: 0x0004, size: 32 })))).toBe('TPMT_PUBLIC: ECC point of 32/32 bytes for a 48-byte curve');
  });

  it('attribute names, in bit order', () => {
    expect(parseTpmtPublic(rsa()).attributes).toEqual(['fixedTPM', 'fixedParent', 'sensitiveDataOrigin', 'userWithAuth', 'restricted', 'sign']);
    const all = Object.values(TPMA_OBJECT).reduce((a, b) => a | b, 0);
    expect(parseTpmtPublic(rsa({ attrs: all })).attributes).toEqual(Object.keys(TPMA_OBJECT));
  });
});

describe('names', () => {
  it('nameAlg (2 bytes) ‖ H(TPMT_PUBLIC), SHA-256 or SHA-384', () => {
    const t = rsa();
    expect(Buffer.from(computeTpmName(t, TPM_ALG.SHA256)).toString('hex')).toBe(`000b${createHash('sha256').update(t).digest('hex')}`);
    expect(Buffer.from(computeTpmName(t, TPM_ALG.SHA384)).toString('hex')).toBe(`000c${createHash('sha384').update(t).digest('hex')}`);
    const sha384Key = parseTpm2bPublic(new Uint8Array([...u16(rsa({ nameAlg: TPM_ALG.SHA384 }).length), ...rsa({ nameAlg: TPM_ALG.SHA384 })]));
    expect(akNameHex(sha384Key)).toBe(`000c${createHash('sha384').update(rsa({ nameAlg: TPM_ALG.SHA384 })).digest('hex')}`);
    expect(() => computeTpmName(t as never as Uint8Array, undefined as never)).toThrow('computeTpmName(bytes, nameAlg): nameAlg is required');
    expect(reason(() => hashFor(TPM_ALG.SHA1))).toBe('unsupported hash 0x0004');
    expect(Buffer.from(hashFor(TPM_ALG.SHA384)(new Uint8Array([1]))).toString('hex')).toBe(createHash('sha384').update(new Uint8Array([1])).digest('hex'));
  });
});

describe('validateAttestationKey', () => {
  it('accepts restricted signing RSA-2048+ and P-256 / P-384 keys', () => {
    for (const k of [rsa(), rsa({ bits: 3072 }), ecc(), ecc({ curve: 0x0004, size: 48 })]) expect(() => validateAttestationKey(parseTpmtPublic(k))).not.toThrow();
  });
  it('refuses a curve other than P-256 / P-384 however it was parsed', () => {
    const pub = { ...parseTpmtPublic(ecc()), ecc: { curve: 0x0005, kdf: null, x: new Uint8Array(66), y: new Uint8Array(66) } } as TpmPublic;
    expect(reason(() => validateAttestationKey(pub))).toBe('AK is not acceptable: curve 0x0005 is not P-256 or P-384');
  });
});

describe('where a TPMT_PUBLIC stops short, the reason says', () => {
  type Seg = [field: string, bytes: number[]];
  const at = (segs: Seg[]) => {
    const whole = segs.flatMap(([, b]) => b);
    let start = 0;
    return segs.map(([field, b]) => {
      const row = { field, start, cut: new Uint8Array(whole.slice(0, start + 1)) };
      start += b.length;
      return row;
    });
  };
  const rsaSegs: Seg[] = [
    ['type', u16(TPM_ALG.RSA)], ['nameAlg', u16(TPM_ALG.SHA256)], ['objectAttributes', u32(AK_ATTRS)], ['authPolicy.size', u16(32)], ['authPolicy', new Array(32).fill(3)],
    ['symmetric.algorithm', u16(TPM_ALG.NULL)], ['scheme', u16(TPM_ALG.RSAPSS)], ['scheme hashAlg', u16(TPM_ALG.SHA256)], ['keyBits', u16(2048)], ['exponent', u32(0)],
    ['unique.rsa.size', u16(256)], ['unique.rsa', new Array(256).fill(0xa5)],
  ];
  const eccSegs: Seg[] = [
    ['type', u16(TPM_ALG.ECC)], ['nameAlg', u16(TPM_ALG.SHA256)], ['objectAttributes', u32(AK_ATTRS)], ['authPolicy.size', u16(0)],
    ['symmetric.algorithm', u16(TPM_ALG.AES)], ['symmetric.keyBits', u16(128)], ['symmetric.mode', u16(TPM_ALG.CFB)], ['scheme', u16(TPM_ALG.ECDAA)], ['scheme hashAlg', u16(TPM_ALG.SHA256)], ['scheme count', u16(1)],
    ['curveID', u16(0x0003)], ['kdf', u16(TPM_ALG.KDF2)], ['kdf hashAlg', u16(TPM_ALG.SHA256)], ['unique.x.size', u16(32)], ['unique.x', new Array(32).fill(1)], ['unique.y.size', u16(32)], ['unique.y', new Array(32).fill(2)],
  ];

  it('the field it was reading, and where: for every field of an RSA and an ECC area', () => {
    for (const segs of [rsaSegs, eccSegs]) {
      expect(parseTpmtPublic(new Uint8Array(segs.flatMap(([, b]) => b))).type).toBeDefined();
      for (const { field, start, cut } of at(segs)) expect(reason(() => parseTpmtPublic(cut))).toBe(`TPMT_PUBLIC: truncated in ${field} at byte ${start} of ${start + 1}`);
    }
  });

  it('an ECC area: bytes after unique.y, and a y of another size than x, are refused', () => {
    const whole = eccSegs.flatMap(([, b]) => b);
    expect(reason(() => parseTpmtPublic(new Uint8Array([...whole, 0])))).toBe('TPMT_PUBLIC: 1 trailing bytes');
    const shortY = eccSegs.map(([f, b]): Seg => (f === 'unique.y.size' ? [f, u16(31)] : f === 'unique.y' ? [f, b.slice(1)] : [f, b]));
    expect(reason(() => parseTpmtPublic(new Uint8Array(shortY.flatMap(([, b]) => b))))).toBe('TPMT_PUBLIC: ECC point of 32/31 bytes for a 32-byte curve');
  });

  it('TPM2B_PUBLIC: 1,026 bytes (a 1,024-byte area) are read and judged; 1,027 are not', () => {
    const area = [...rsa({ bits: 4096 })];
    const padded = [...area, ...new Array(1024 - area.length).fill(0)];
    expect(reason(() => parseTpm2bPublic(new Uint8Array([...u16(1024), ...padded])))).toBe(`TPMT_PUBLIC: ${1024 - area.length} trailing bytes`);
    expect(reason(() => parseTpm2bPublic(new Uint8Array([...u16(1025), ...padded, 0])))).toBe('TPM2B_PUBLIC: 1027 bytes is over 1026');
  });

  it('takes bytes only', () => {
    expect(() => parseTpm2bPublic([0, 0] as never)).toThrow(new TypeError('parseTpm2bPublic expects a Uint8Array'));
  });
});
