// Webhook signatures, inbound and outbound: `X-Enroll-Signature: t=<unix seconds>,v1=<hex
// HMAC-SHA256(secret, t + "." + raw body)>`, 5-minute tolerance, constant-time compare. Pure.
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { AppError } from '../errors.ts';

export const SIGNATURE_HEADER = 'x-enroll-signature';
export const SIGNATURE_TOLERANCE_SECONDS = 300;

export function signWebhook(secret: string, body: string, unixSeconds: number): string {
  const mac = hmac(sha256, new TextEncoder().encode(secret), new TextEncoder().encode(`${unixSeconds}.${body}`));
  return `t=${unixSeconds},v1=${bytesToHex(mac)}`;
}

/** Verifies a signature header against the raw body; returns the signed timestamp (seconds). */
export function verifyWebhookSignature(secret: string, header: string | undefined | null, body: string, now: Date): number {
  if (!header || header.length > 1024) throw new AppError('unauthorized', 'missing or malformed X-Enroll-Signature', { reason: 'no signature header' });
  let t: number | null = null;
  const v1: string[] = [];
  for (const part of header.split(',')) {
    const [k, v] = part.trim().split('=', 2);
    if (k === 't' && v !== undefined && /^\d{1,12}$/.test(v)) t = Number(v);
    else if (k === 'v1' && v !== undefined && /^[0-9a-f]{64}$/.test(v)) v1.push(v);
  }
  if (t === null || v1.length === 0) throw new AppError('unauthorized', 'missing or malformed X-Enroll-Signature', { reason: 'signature header without t or v1' });
  if (Math.abs(now.getTime() / 1000 - t) > SIGNATURE_TOLERANCE_SECONDS) throw new AppError('unauthorized', 'the webhook signature timestamp is outside the tolerance', { reason: `timestamp skew ${Math.round(now.getTime() / 1000 - t)} s` });
  const expected = hmac(sha256, new TextEncoder().encode(secret), new TextEncoder().encode(`${t}.${body}`));
  let ok = false;
  for (const candidate of v1) {
    const got = hexToBytes(candidate);
    let diff = 0;
    for (let i = 0; i < expected.length; i++) diff |= expected[i]! ^ got[i]!;
    ok = ok || diff === 0;
  }
  if (!ok) throw new AppError('unauthorized', 'invalid webhook signature', { reason: 'signature mismatch' });
  return t;
}
