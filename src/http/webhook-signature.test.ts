import { describe, expect, it } from 'vitest';
import { AppError } from '../errors.ts';
import { signWebhook, verifyWebhookSignature } from './webhook-signature.ts';

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
