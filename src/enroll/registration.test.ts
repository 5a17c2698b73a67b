// parseMachineRegistration: what a registration may carry, and each refusal naming its field.
import { describe, expect, it } from 'vitest';
import { AppError } from '../errors.ts';
import { hashEnrollmentCode } from '../attest/code.ts';
import { ENROLLMENT_CODE_TTL_DEFAULT_MS, parseMachineRegistration } from './registration.ts';

const NOW = new Date('2026-06-01T00:00:00Z');
const refusal = (body: Record<string, unknown>, id = 'edge-1') => {
  try {
    parseMachineRegistration(id, body, NOW);
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    return { code: (err as AppError).code, message: (err as AppError).message };
  }
  throw new Error('accepted');
};

describe('parseMachineRegistration', () => {
  it('an empty body registers a machine with defaults only', () => {
    expect(parseMachineRegistration('edge-1', {}, NOW)).toEqual({ id: 'edge-1', enrollmentCodeSha256: null, enrollmentCodeExpiresAt: null, jwtSubject: null, ekPublicKeySha256: null, certificateSha256: null, groups: null, labels: {}, tokenTtlSeconds: null });
  });

  it('hashes the code and gives it the default lifetime, or the one asked for', () => {
    const r = parseMachineRegistration('edge-1', { enrollmentCode: 'code-0123456789abcdef' }, NOW);
    expect(r.enrollmentCodeSha256).toBe(hashEnrollmentCode('code-0123456789abcdef'));
    expect(r.enrollmentCodeExpiresAt).toBe(NOW.getTime() + ENROLLMENT_CODE_TTL_DEFAULT_MS);
    expect(parseMachineRegistration('edge-1', { enrollmentCode: 'code-0123456789abcdef', enrollmentCodeExpiresAt: '2026-06-02T00:00:00Z' }, NOW).enrollmentCodeExpiresAt).toBe(Date.parse('2026-06-02T00:00:00Z'));
  });

  it('jwtSubject is `<iss>|<sub>`', () => {
    expect(parseMachineRegistration('edge-1', { jwtSubject: 'https://idp.example|device-1' }, NOW).jwtSubject).toBe('https://idp.example|device-1');
    expect(parseMachineRegistration('edge-1', { jwtSubject: 'https://idp.example|spiffe://x|y' }, NOW).jwtSubject).toBe('https://idp.example|spiffe://x|y');
  });

  it.each([
    ['a bare subject', 'device-1'],
    ['an empty issuer', '|device-1'],
    ['an empty subject', 'https://idp.example|'],
    ['only the separator', '|'],
  ])('jwtSubject as %s → 400 invalid_request naming the field', (_n, jwtSubject) => {
    const r = refusal({ jwtSubject });
    expect(r.code).toBe('invalid_request');
    expect(r.message).toContain('jwtSubject');
    expect(r.message).toContain('<iss>|<sub>');
  });

  it.each([
    [{ enrollmentCode: 'short' }, 'enrollmentCode'],
    [{ enrollmentCodeExpiresAt: '2026-06-02T00:00:00Z' }, 'enrollmentCodeExpiresAt'],
    [{ enrollmentCode: 'code-0123456789abcdef', enrollmentCodeExpiresAt: '2026-05-01T00:00:00Z' }, 'enrollmentCodeExpiresAt'],
    [{ enrollmentCode: 'code-0123456789abcdef', enrollmentCodeExpiresAt: 'tomorrow' }, 'enrollmentCodeExpiresAt'],
    [{ jwtSubject: '' }, 'jwtSubject'],
    [{ jwtSubject: 'a|b\n' }, 'jwtSubject'],
    [{ jwtSubject: 7 }, 'jwtSubject'],
    [{ ekPublicKeySha256: 'ABC' }, 'ekPublicKeySha256'],
    [{ certificateSha256: 'z'.repeat(64) }, 'certificateSha256'],
    [{ groups: 'x' }, 'groups'],
    [{ groups: ['system:nodes'] }, 'group'],
    [{ labels: { 'bad key': 'x' } }, 'label'],
    [{ labels: [] }, 'labels'],
    [{ tokenTtl: '30s' }, 'tokenTtl'],
    [{ tokenTtl: '2d' }, 'tokenTtl'],
    [{ unknownField: 1 }, 'unknownField'],
    [{ id: 'other' }, 'id'],
  ])('%j → 400 naming %s', (body, field) => {
    const r = refusal(body);
    expect(r.code).toBe('invalid_request');
    expect(r.message).toContain(field);
  });

  it('a bad machine id is refused', () => {
    expect(refusal({}, 'Bad_Id').code).toBe('invalid_request');
  });
});

describe('parseMachineRegistration, rule by rule', () => {
  it('a code lives 7 days by default; an expiry must be after now, to the millisecond', () => {
    expect(ENROLLMENT_CODE_TTL_DEFAULT_MS).toBe(604_800_000);
    const at = (iso: string) => parseMachineRegistration('edge-1', { enrollmentCode: 'code-0123456789abcdef', enrollmentCodeExpiresAt: iso }, NOW).enrollmentCodeExpiresAt;
    expect(at('2026-06-01T00:00:00.001Z')).toBe(NOW.getTime() + 1);
    expect(refusal({ enrollmentCode: 'code-0123456789abcdef', enrollmentCodeExpiresAt: '2026-06-01T00:00:00Z' })).toEqual({ code: 'invalid_request', message: 'enrollmentCodeExpiresAt: must be an RFC 3339 time in the future' });
  });

  it('an id in the body must be the path\'s; groups and the token lifetime are taken when given, in whole seconds', () => {
    expect(refusal({ id: 'edge-2' })).toEqual({ code: 'invalid_request', message: 'id: must match the path' });
    expect(parseMachineRegistration('edge-1', { id: 'edge-1' }, NOW).id).toBe('edge-1');
    const r = parseMachineRegistration('edge-1', { groups: ['system:bootstrappers:k3s:edge'], tokenTtl: '90s' }, NOW);
    expect(r.groups).toEqual(['system:bootstrappers:k3s:edge']);
    expect(r.tokenTtlSeconds).toBe(90);
  });

  it('a bad machine id names the path parameter', () => {
    expect(refusal({}, 'Bad_Id').message).toMatch(/^machine id/);
  });
});
