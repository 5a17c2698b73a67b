// One-time codes: the verifier's parsing and hashing (the match itself is the machine store's).
import { describe, expect, it } from 'vitest';
import { AppError } from '../errors.ts';
import { createCodeVerifier, ENROLLMENT_CODE_MAX_LENGTH, ENROLLMENT_CODE_MIN_LENGTH, hashEnrollmentCode, parseEnrollmentCode } from './code.ts';

describe('enrollment codes', () => {
  it('hashes to lowercase hex SHA-256 of the UTF-8 code (FIPS 180-4 "abc" vector)', () => {
    expect(hashEnrollmentCode('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('accepts 16–256 printable ASCII characters, exactly at both bounds', () => {
    expect(parseEnrollmentCode('x'.repeat(ENROLLMENT_CODE_MIN_LENGTH))).toBe('x'.repeat(16));
    expect(parseEnrollmentCode('~'.repeat(ENROLLMENT_CODE_MAX_LENGTH))).toHaveLength(256);
    expect(parseEnrollmentCode('!"#$%&\'()*+,-./0123')).toBe('!"#$%&\'()*+,-./0123');
  });

  it.each([
    ['too short', 'x'.repeat(15)],
    ['too long', 'x'.repeat(257)],
    ['a space', 'abcdefgh ijklmnop'],
    ['a control character', 'abcdefgh\u0000ijklmnop'],
    ['non-ASCII', 'abcdefghijklmnoé'],
    ['a number', 1234567890123456],
    ['null', null],
  ])('refuses %s with invalid_request naming the field', (_n, v) => {
    const e = (() => {
      try {
        parseEnrollmentCode(v, 'enrollmentCode');
      } catch (err) {
        return err as AppError;
      }
      throw new Error('accepted');
    })();
    expect(e).toBeInstanceOf(AppError);
    expect(e.code).toBe('invalid_request');
    expect(e.message).toContain('enrollmentCode');
  });

  it('the refusal names the field, `code` unless told otherwise, and the bounds', () => {
    const message = (f: () => unknown) => {
      try {
        f();
      } catch (err) {
        return (err as AppError).message;
      }
      throw new Error('accepted');
    };
    expect(message(() => parseEnrollmentCode('short'))).toBe('code must be 16–256 printable ASCII characters');
    expect(message(() => parseEnrollmentCode('short', 'enrollmentCode'))).toBe('enrollmentCode must be 16–256 printable ASCII characters');
    // The printable range is anchored at both ends: one bad character first or last is enough.
    expect(message(() => parseEnrollmentCode(' abcdefghijklmnop'))).toMatch(/printable ASCII/);
    expect(message(() => parseEnrollmentCode('abcdefghijklmnop\u007f'))).toMatch(/printable ASCII/);
  });

  it('the verifier gives the machine id and the code hash, nothing else', async () => {
    const ev = await createCodeVerifier().verify({ method: 'code', machineId: 'edge-1', code: 'code-0123456789abcdef' }, new Date());
    expect(ev).toEqual({ machineId: 'edge-1', proof: { method: 'code', codeSha256: hashEnrollmentCode('code-0123456789abcdef') }, usedJwt: null });
    expect(createCodeVerifier().method).toBe('code');
  });

  it('the verifier refuses a bad machine id or code with invalid_request', async () => {
    for (const body of [{ machineId: 'Edge_1', code: 'code-0123456789abcdef' }, { machineId: 'edge-1', code: 'short' }, { code: 'code-0123456789abcdef' }]) {
      await expect(createCodeVerifier().verify(body, new Date())).rejects.toMatchObject({ code: 'invalid_request' });
    }
  });
});
