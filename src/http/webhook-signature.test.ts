import { describe, expect, it } from 'vitest';
import { AppError } from '../errors.ts';
import { SIGNATURE_HEADER, signWebhook, verifyWebhookSignature } from './webhook-signature.ts';

const secret = 'whsec-0123456789abcdef';
const now = new Date('2026-11-28T12:00:00Z');
const t = Math.floor(now.getTime() / 1000);

describe('webhook signatures', () => {
  it('signs t + "." + body with HMAC-SHA256 (RFC 4231-style check against WebCrypto)', async () => {
    const header = signWebhook(secret, '{"a":1}', t);
    const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(`${t}.{"a":1}`)));
    expect(header).toBe(`t=${t},v1=${[...mac].map((b) => b.toString(16).padStart(2, '0')).join('')}`);
    expect(verifyWebhookSignature(secret, header, '{"a":1}', now)).toBe(t);
  });
  it('accepts any of several v1 signatures (secret rotation)', () => {
    const good = signWebhook(secret, 'x', t).split(',')[1];
    expect(verifyWebhookSignature(secret, `t=${t},v1=${'0'.repeat(64)},${good}`, 'x', now)).toBe(t);
  });
  it.each([
    ['missing', null],
    ['empty', ''],
    ['no t', `v1=${'a'.repeat(64)}`],
    ['no v1', `t=${t}`],
    ['short v1', `t=${t},v1=abc`],
    ['uppercase v1', `t=${t},v1=${'A'.repeat(64)}`],
    ['wrong secret', signWebhook('another-secret-000000', 'x', t)],
    ['other body', signWebhook(secret, 'y', t)],
    ['301 s old', signWebhook(secret, 'x', t - 301)],
    ['301 s ahead', signWebhook(secret, 'x', t + 301)],
    ['huge header', `t=${t},v1=${'a'.repeat(2000)}`],
  ])('rejects %s as unauthorized', (_n, header) => {
    const err = (() => {
      try {
        verifyWebhookSignature(secret, header, 'x', now);
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('unauthorized');
  });
  it('accepts the edge of the tolerance (300 s)', () => {
    expect(verifyWebhookSignature(secret, signWebhook(secret, 'x', t - 300), 'x', now)).toBe(t - 300);
  });
});

describe('webhook signature rules', () => {
  const refusal = (header: string | null | undefined, body = 'x') => {
    try {
      verifyWebhookSignature(secret, header, body, now);
    } catch (e) {
      const err = e as AppError;
      return { code: err.code, message: err.message, reason: err.reason };
    }
    throw new Error('expected a refusal');
  };
  const good = signWebhook(secret, 'x', t);

  it('each refusal tells the caller what is wrong and the audit why', () => {
    expect(refusal(undefined)).toEqual({ code: 'unauthorized', message: 'missing or malformed X-Enroll-Signature', reason: 'no signature header' });
    expect(refusal(`t=${t}`)).toEqual({ code: 'unauthorized', message: 'missing or malformed X-Enroll-Signature', reason: 'signature header without t or v1' });
    expect(refusal(signWebhook(secret, 'x', t - 301))).toEqual({ code: 'unauthorized', message: 'the webhook signature timestamp is outside the tolerance', reason: 'timestamp skew 301 s' });
    expect(refusal(signWebhook(secret, 'x', t + 400))).toMatchObject({ reason: 'timestamp skew -400 s' });
    expect(refusal(signWebhook(secret, 'y', t))).toEqual({ code: 'unauthorized', message: 'invalid webhook signature', reason: 'signature mismatch' });
  });

  it('a header of up to 1024 characters is read; one longer is refused before parsing', () => {
    const padded = (n: number) => `${good},${'x'.repeat(n - good.length - 1)}`;
    expect(padded(1024)).toHaveLength(1024);
    expect(verifyWebhookSignature(secret, padded(1024), 'x', now)).toBe(t);
    expect(refusal(padded(1025)).reason).toBe('no signature header');
  });

  it('parts may carry spaces around them; keys and values are exact (no prefixes, no extra =)', () => {
    const [tPart, v1Part] = good.split(',');
    expect(verifyWebhookSignature(secret, ` ${tPart} , ${v1Part} `, 'x', now)).toBe(t);
    // A key that merely starts or ends like t or v1 does not count.
    expect(refusal(`tt=${t},${v1Part}`).reason).toBe('signature header without t or v1');
    expect(refusal(`${tPart},xv1=${v1Part!.slice(3)}`).reason).toBe('signature header without t or v1');
    // The timestamp is 1-12 digits, the signature 64 lowercase hex characters, nothing around them.
    expect(refusal(`t=${t}x,${v1Part}`).reason).toBe('signature header without t or v1');
    expect(refusal(`t=x${t},${v1Part}`).reason).toBe('signature header without t or v1');
    expect(refusal(`t=,${v1Part}`).reason).toBe('signature header without t or v1');
    expect(refusal(`t=1234567890123,${v1Part}`).reason).toBe('signature header without t or v1');
    expect(refusal(`${tPart},${v1Part}0`).reason).toBe('signature header without t or v1');
    expect(refusal(`${tPart},v1=0${v1Part!.slice(3)}`).reason).toBe('signature header without t or v1');
    expect(refusal(`${tPart},v1=`).reason).toBe('signature header without t or v1');
    expect(refusal(`t,${v1Part}`).reason).toBe('signature header without t or v1');
    expect(refusal(`${tPart},v1`).reason).toBe('signature header without t or v1');
  });

  it('a signature that differs in its last byte only is refused (every byte is compared)', () => {
    const [tPart, v1Part] = good.split(',');
    const last = v1Part!.slice(-2);
    const flipped = `${v1Part!.slice(0, -2)}${last === '00' ? '01' : '00'}`;
    expect(refusal(`${tPart},${flipped}`).reason).toBe('signature mismatch');
    const firstFlipped = `v1=${v1Part!.slice(3, 5) === '00' ? '01' : '00'}${v1Part!.slice(5)}`;
    expect(refusal(`${tPart},${firstFlipped}`).reason).toBe('signature mismatch');
    // A good signature listed first still verifies when a bad one follows.
    expect(verifyWebhookSignature(secret, `${good},v1=${'0'.repeat(64)}`, 'x', now)).toBe(t);
  });

  it('the header is X-Enroll-Signature (lowercase, as Headers gives it)', () => {
    expect(SIGNATURE_HEADER).toBe('x-enroll-signature');
  });

  it('the timestamp is part of what is signed', () => {
    const v1Part = good.split(',')[1];
    expect(refusal(`t=${t - 1},${v1Part}`).reason).toBe('signature mismatch');
  });
});
