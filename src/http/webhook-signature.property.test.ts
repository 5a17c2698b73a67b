// Property: X-Enroll-Signature parsing on arbitrary headers only ever answers 401 unauthorized
// (an AppError), never another error; a header signWebhook writes verifies and returns its time.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fcParams } from '../../test/support/property.ts';
import { AppError } from '../errors.ts';
import { signWebhook, SIGNATURE_TOLERANCE_SECONDS, verifyWebhookSignature } from './webhook-signature.ts';

const NOW = new Date('2026-06-01T00:00:00Z');
const T = Math.floor(NOW.getTime() / 1000);
const secret = fc.string({ minLength: 16, maxLength: 64 });
const body = fc.string({ unit: 'binary', maxLength: 300 });
const headerish = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 1100 }),
  fc.array(fc.oneof(fc.constant('t='), fc.constant('v1='), fc.constant(','), fc.constant(' '), fc.constant('='), fc.nat().map(String), fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF'), maxLength: 70 })), { maxLength: 20 }).map((p) => p.join('')),
);

describe('webhook signature header (property)', () => {
  it('any header: the signed time or AppError unauthorized, never another error', () => {
    fc.assert(
      fc.property(secret, fc.option(headerish, { nil: undefined }), body, (s, h, b) => {
        try {
          verifyWebhookSignature(s, h, b, NOW);
        } catch (err) {
          if (!(err instanceof AppError)) throw err;
          expect(err.code).toBe('unauthorized');
        }
      }),
      fcParams(),
    );
  });

  it('round-trips: what signWebhook writes verifies within the tolerance; a changed body does not', () => {
    fc.assert(
      fc.property(secret, body, fc.integer({ min: -SIGNATURE_TOLERANCE_SECONDS, max: SIGNATURE_TOLERANCE_SECONDS }), (s, b, skew) => {
        const header = signWebhook(s, b, T + skew);
        expect(verifyWebhookSignature(s, header, b, NOW)).toBe(T + skew);
        expect(() => verifyWebhookSignature(s, header, `${b}x`, NOW)).toThrow(AppError);
      }),
      fcParams(),
    );
  });
});
