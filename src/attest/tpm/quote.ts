// TPM2_Quote verification (TPM 2.0 Part 2 §10.12): TPMS_ATTEST as `tpm2_quote -m` writes it and
// TPMT_SIGNATURE as `-s` writes it, checked against the AK (RSASSA or ECDSA, SHA-256/384), the
// expected nonce (extraData) and a PCR policy (selection + allowed PCR digests). Pure.
import { bytesToHex } from '@noble/hashes/utils.js';
import { b64u } from './make-credential.ts';
import { tpmRejected as rejected } from './tpm-error.ts';
import { TPM_ALG, type TpmPublic } from './tpm-public.ts';

const TPM_GENERATED_VALUE = 0xff544347;
const TPM_ST_ATTEST_QUOTE = 0x8018;

export interface PcrPolicy {
  /** PCR indices that must be quoted, in the sha256 bank. */
  readonly pcrs: readonly number[];
  /** Allowed hex SHA-256 digests over the selected PCR values (TPMS_QUOTE_INFO.pcrDigest). */
  readonly allowedDigests: readonly string[];
}

export interface ParsedQuote {
  readonly extraData: Uint8Array;
  readonly selection: { hash: number; pcrs: number[] }[];
  readonly pcrDigest: Uint8Array;
}

class R {
  at = 0;
  constructor(readonly b: Uint8Array) {}
  need(n: number) {
    if (this.at + n > this.b.length) throw rejected('quote: truncated');
  }
  u8() {
    this.need(1);
    return this.b[this.at++]!;
  }
  u16() {
    return (this.u8() << 8) | this.u8();
  }
  u32() {
    return ((this.u16() << 16) >>> 0) + this.u16();
  }
  bytes(n: number) {
    this.need(n);
    const v = this.b.slice(this.at, this.at + n);
    this.at += n;
    return v;
  }
  tpm2b(max: number) {
    const n = this.u16();
    if (n > max) throw rejected('quote: field too large');
    return this.bytes(n);
  }
}

export function parseQuote(message: Uint8Array): ParsedQuote {
  const r = new R(message);
  if (r.u32() !== TPM_GENERATED_VALUE) throw rejected('quote: not TPM-generated');
  if (r.u16() !== TPM_ST_ATTEST_QUOTE) throw rejected('quote: not a quote');
  r.tpm2b(68); // qualifiedSigner
  const extraData = r.tpm2b(64);
  r.bytes(17); // clockInfo
  r.bytes(8); // firmwareVersion
  const count = r.u32();
  if (count > 4) throw rejected('quote: too many PCR banks');
  const selection = [];
  for (let i = 0; i < count; i++) {
    const hash = r.u16();
    const size = r.u8();
    if (size > 4) throw rejected('quote: bad PCR select size');
    const bits = r.bytes(size);
    const pcrs: number[] = [];
    bits.forEach((byte, j) => {
      for (let k = 0; k < 8; k++) if (byte & (1 << k)) pcrs.push(j * 8 + k);
    });
    selection.push({ hash, pcrs });
  }
  const pcrDigest = r.tpm2b(64);
  if (r.at !== message.length) throw rejected('quote: trailing bytes');
  return { extraData, selection, pcrDigest };
}

/** Checks signature, nonce and PCR policy; throws attestation_rejected with the precise reason. */
export async function verifyQuote(ak: TpmPublic, message: Uint8Array<ArrayBuffer>, signature: Uint8Array, nonce: Uint8Array, policy: PcrPolicy): Promise<ParsedQuote> {
  const q = parseQuote(message);
  const r = new R(signature);
  const sigAlg = r.u16();
  const hashAlg = r.u16();
  const hash = hashAlg === TPM_ALG.SHA256 ? 'SHA-256' : hashAlg === TPM_ALG.SHA384 ? 'SHA-384' : null;
  if (!hash) throw rejected('quote: unsupported signature hash');
  let ok = false;
  if (sigAlg === TPM_ALG.RSASSA && ak.rsa) {
    const sig = r.tpm2b(512);
    const key = await crypto.subtle.importKey('jwk', { kty: 'RSA', n: b64u(ak.rsa.modulus), e: b64u(expBytes(ak.rsa.exponent)) }, { name: 'RSASSA-PKCS1-v1_5', hash }, false, ['verify']);
    ok = await crypto.subtle.verify('RSASSA-PKCS1-v1_5', key, sig as Uint8Array<ArrayBuffer>, message);
  } else if (sigAlg === TPM_ALG.ECDSA && ak.ecc) {
    const rr = r.tpm2b(66);
    const ss = r.tpm2b(66);
    const size = ak.ecc.x.length;
    const raw = new Uint8Array(size * 2);
    raw.set(rr.slice(-size), size - Math.min(size, rr.length));
    raw.set(ss.slice(-size), 2 * size - Math.min(size, ss.length));
    const crv = size === 32 ? 'P-256' : 'P-384';
    const key = await crypto.subtle.importKey('jwk', { kty: 'EC', crv, x: b64u(ak.ecc.x), y: b64u(ak.ecc.y) }, { name: 'ECDSA', namedCurve: crv }, false, ['verify']);
    ok = await crypto.subtle.verify({ name: 'ECDSA', hash }, key, raw, message);
  } else {
    throw rejected('quote: signature algorithm does not match the AK');
  }
  if (!ok) throw rejected('quote: signature does not verify with the AK');
  if (bytesToHex(q.extraData) !== bytesToHex(nonce)) throw rejected('quote: nonce mismatch (stale or replayed quote)');
  const sha256Bank = q.selection.filter((s) => s.hash === TPM_ALG.SHA256);
  const wanted = [...policy.pcrs].sort((a, b) => a - b).join(',');
  if (q.selection.length !== 1 || sha256Bank.length !== 1 || sha256Bank[0]!.pcrs.join(',') !== wanted) throw rejected(`quote: PCR selection is not sha256:${wanted}`);
  if (!policy.allowedDigests.includes(bytesToHex(q.pcrDigest))) throw rejected(`quote: PCR digest ${bytesToHex(q.pcrDigest)} is not allowed`);
  return q;
}

function expBytes(e: number): Uint8Array {
  const out = [e >>> 24, (e >>> 16) & 0xff, (e >>> 8) & 0xff, e & 0xff];
  while (out.length > 1 && out[0] === 0) out.shift();
  return new Uint8Array(out);
}
