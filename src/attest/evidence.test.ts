// The shared shapes of evidence: machine ids, challenge ids and the one refusal every attestation
// failure gives the caller.
import { describe, expect, it } from 'vitest';
import { AppError } from '../errors.ts';
import { parseChallengeId, parseMachineId, rejected } from './evidence.ts';

const refusal = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(AppError);
    return { code: (e as AppError).code, message: (e as AppError).message };
  }
  throw new Error('accepted');
};

describe('machine ids', () => {
  it('accepts DNS-label-like ids of 1 to 63 characters', () => {
    for (const id of ['a', '0', 'edge-1', 'edge.1', 'a-b.c', 'a'.repeat(63), `a${'-'.repeat(61)}b`]) expect(parseMachineId(id)).toBe(id);
  });

  it('refuses anything else with invalid_request naming the field and the pattern', () => {
    for (const id of ['', 'a'.repeat(64), '-edge', 'edge-', '.edge', 'edge.', 'Edge', 'edge_1', 'edge 1', 'edge-1\n', ' edge', 42, null, undefined]) {
      expect(refusal(() => parseMachineId(id))).toEqual({ code: 'invalid_request', message: 'machineId must match [a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?' });
    }
    expect(refusal(() => parseMachineId('X', 'registration.id')).message).toBe('registration.id must match [a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?');
  });
});

describe('challenge ids', () => {
  it('accepts 16 to 64 characters of [A-Za-z0-9_-] (a UUID among them)', () => {
    for (const id of ['123e4567-e89b-42d3-a456-426614174000', 'A'.repeat(16), 'z_'.repeat(32), '0123456789abcdef']) expect(parseChallengeId(id)).toBe(id);
  });

  it('refuses anything else as a malformed challengeId', () => {
    for (const id of ['A'.repeat(15), 'A'.repeat(65), `${'A'.repeat(16)}=`, `=${'A'.repeat(16)}`, `${'A'.repeat(8)}.${'A'.repeat(8)}`, `${'A'.repeat(16)}\n`, 16, 1234567890123456, null]) {
      expect(refusal(() => parseChallengeId(id))).toEqual({ code: 'invalid_request', message: 'challengeId is malformed' });
    }
  });
});

describe('rejected', () => {
  it('looks the same to every caller; the reason and the cause stay for the audit', () => {
    const cause = new Error('inner');
    const e = rejected('x509: expired', cause);
    expect([e.code, e.message, e.reason, e.cause]).toEqual(['attestation_rejected', 'attestation rejected', 'x509: expired', cause]);
  });
});
