// Property: the parsers of machine-facing and registration input — parseMachineRegistration,
// parseMachineId, parseChallengeId, parseEnrollmentCode — take any JSON value and either return
// or throw AppError('invalid_request'), never anything else; what they accept is what they return.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fcParams, fcTimeout } from '../../test/support/property.ts';
import { parseEnrollmentCode } from '../attest/code.ts';
import { MACHINE_ID_PATTERN, parseChallengeId, parseMachineId } from '../attest/evidence.ts';
import { AppError } from '../errors.ts';
import { JWT_SUBJECT, parseMachineRegistration } from './registration.ts';

const NOW = new Date('2026-06-01T00:00:00Z');

function onlyInvalidRequest<T>(fn: () => T): T | null {
  try {
    return fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('invalid_request');
    return null;
  }
}

/** Registration-shaped objects: known fields with plausible and hostile values, plus strays. */
const field = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.string({ maxLength: 80 }));
const body = fc.record(
  {
    enrollmentCode: fc.oneof(field, fc.stringMatching(/^[\x21-\x7e]{16,40}$/)),
    enrollmentCodeExpiresAt: fc.oneof(field, fc.constant('2026-06-02T00:00:00Z')),
    jwtSubject: fc.oneof(field, fc.tuple(fc.webUrl(), fc.string({ minLength: 1, maxLength: 20 })).map(([i, s]) => `${i}|${s}`)),
    ekPublicKeySha256: fc.oneof(field, fc.stringMatching(/^[0-9a-f]{64}$/)),
    certificateSha256: field,
    groups: fc.oneof(field, fc.array(fc.constantFrom('system:bootstrappers:edge', 'system:nodes', 'x'), { maxLength: 3 })),
    labels: fc.oneof(field, fc.dictionary(fc.string({ maxLength: 10 }), fc.string({ maxLength: 10 }), { maxKeys: 3 })),
    tokenTtl: fc.oneof(field, fc.constantFrom('10m', '1h', '30s', '25h', '')),
    id: field,
    ['__proto__']: field,
    toString: field,
  },
  { requiredKeys: [] },
);

describe('registration and machine-facing parsers (property)', () => {
  it('parseMachineRegistration: a registration or invalid_request; an accepted jwtSubject is <iss>|<sub>', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 70 }), fc.stringMatching(MACHINE_ID_PATTERN)), body, (id, b) => {
        const r = onlyInvalidRequest(() => parseMachineRegistration(id, b as Record<string, unknown>, NOW));
        if (r === null) return;
        expect(r.id).toBe(id);
        if (r.jwtSubject !== null) expect(r.jwtSubject).toMatch(JWT_SUBJECT);
        if (r.enrollmentCodeSha256 !== null) expect(r.enrollmentCodeSha256).toMatch(/^[0-9a-f]{64}$/);
      }),
      fcParams(500),
    );
  }, fcTimeout(1000));

  it('parseMachineId, parseChallengeId, parseEnrollmentCode: the value itself or invalid_request', () => {
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue({ maxDepth: 1 }), fc.string({ maxLength: 300 }), fc.uuid(), fc.stringMatching(MACHINE_ID_PATTERN)), (v) => {
        for (const parse of [parseMachineId, parseChallengeId, parseEnrollmentCode] as Array<(v: unknown) => string>) {
          const r = onlyInvalidRequest(() => parse(v));
          if (r !== null) expect(r).toBe(v);
        }
      }),
      fcParams(1000),
    );
  }, fcTimeout(1000));
});
