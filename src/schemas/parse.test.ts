// parseWith over the request schemas: a refusal names the field path, carries the right code,
// never echoes a secret, and only own keys count (prototype names are fields like any other).
import { describe, expect, it } from 'vitest';
import { AppError } from '../errors.ts';
import { parseMachineRegistration } from '../enroll/registration.ts';
import { ChallengeBody, EnrollBody, FleetEvent, MachineListQuery, ServerTokenRotateBody, TOKEN_CREATE_CODES, TokenCreateBody, parseWith } from './index.ts';

const NOW = new Date('2026-06-01T00:00:00Z');
function refusal(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    return { code: (err as AppError).code, message: (err as AppError).message };
  }
  throw new Error('accepted');
}
const SECRET = 'S3cr3t-Value-0123456789abcdef!';

describe('parseWith: the detail names the field path', () => {
  it.each([
    [{ labels: { site: 'not ok!' } }, /^labels\.site: label "site" is not a valid Kubernetes label$/],
    [{ groups: ['system:nodes'] }, /^groups: bootstrap group "system:nodes" is invalid/],
    [{ tokenTtl: '30s' }, /^tokenTtl: must be a Go duration between 1m and 24h$/],
    [{ enrollmentCodeExpiresAt: '2026-06-02T00:00:00Z' }, /^enrollmentCodeExpiresAt: needs enrollmentCode$/],
    [{ enrollmentCode: 'code-0123456789abcdef', enrollmentCodeExpiresAt: '2026-05-01T00:00:00Z' }, /^enrollmentCodeExpiresAt: must be an RFC 3339 time in the future$/],
    [{ extra: 1 }, /^unknown field "extra"$/],
  ])('registration %j → %s', (body, message) => {
    const r = refusal(() => parseMachineRegistration('edge-1', body, NOW));
    expect(r.code).toBe('invalid_request');
    expect(r.message).toMatch(message);
  });

  it('nested and indexed paths: machine.labels.x in a webhook, chain.0 in x509', () => {
    const event = { id: 'e1', type: 'machine.registered', machine: { id: 'm-1', labels: { x: '!' } } };
    expect(refusal(() => parseWith(FleetEvent, event)).message).toMatch(/^machine\.labels\.x: /);
    expect(refusal(() => parseWith(ChallengeBody, { method: 'x509', machineId: 'm-1', certificate: 'AAAA', chain: [7] })).message).toMatch(/^chain\.0: must be a list of at most 4/);
    expect(refusal(() => parseWith(EnrollBody, { method: 'code', machineId: 'm-1' })).message).toBe('code: is required');
  });

  it('a per-field code: a malformed token on create is invalid_token, an unknown event type unsupported_event', () => {
    expect(refusal(() => parseWith(TokenCreateBody, { token: 'ABCDEF.0123456789abcdef' }, { codes: TOKEN_CREATE_CODES })).code).toBe('invalid_token');
    expect(refusal(() => parseWith(TokenCreateBody, { ttl: '1d' }, { codes: TOKEN_CREATE_CODES }))).toEqual({ code: 'invalid_request', message: 'ttl: time: unknown unit "d" in duration "1d"' });
    expect(refusal(() => parseWith(FleetEvent, { id: 'e1', type: 'machine.exploded', machine: { id: 'm-1' } }, { codes: { type: 'unsupported_event' } })).code).toBe('unsupported_event');
  });

  it('query strings: limit and after', () => {
    expect(parseWith(MachineListQuery, { limit: undefined, after: undefined })).toEqual({ limit: '100' });
    expect(refusal(() => parseWith(MachineListQuery, { limit: '1001' })).message).toBe('limit: must be an integer from 1 to 1000');
    expect(refusal(() => parseWith(MachineListQuery, { after: 'Bad_Id' })).message).toMatch(/^after: must match/);
  });
});

describe('parseWith never echoes a secret', () => {
  it.each([
    ['a short enrollment code', () => parseMachineRegistration('edge-1', { enrollmentCode: SECRET.slice(0, 10) }, NOW)],
    ['an enrollment code with a space', () => parseMachineRegistration('edge-1', { enrollmentCode: `${SECRET} x` }, NOW)],
    ['an enroll code of the wrong type', () => parseWith(EnrollBody, { method: 'code', machineId: 'm-1', code: [SECRET] })],
    ['a TPM secret too long', () => parseWith(EnrollBody, { method: 'tpm', challengeId: '0123456789abcdef', secret: SECRET.repeat(10) })],
    ['an empty-ish JWT', () => parseWith(EnrollBody, { method: 'jwt', jwt: { t: SECRET } })],
    ['a bootstrap token', () => parseWith(TokenCreateBody, { token: `abcdef.${SECRET}` }, { codes: TOKEN_CREATE_CODES })],
    ['a server token of the wrong type', () => parseWith(ServerTokenRotateBody, { token: [SECRET] })],
    ['a new server token of the wrong type', () => parseWith(ServerTokenRotateBody, { token: 'x', newToken: { v: SECRET } })],
    ['a method that is a secret', () => parseWith(EnrollBody, { method: SECRET })],
  ])('%s', (_n, fn) => {
    const r = refusal(fn);
    expect(r.message).not.toContain(SECRET.slice(0, 10));
  });
});

describe('own keys only', () => {
  const json = (s: string) => JSON.parse(s) as Record<string, unknown>;
  it('{"method":"toString"} and friends are 400s, not prototype lookups', () => {
    for (const name of Object.getOwnPropertyNames(Object.prototype)) {
      expect(refusal(() => parseWith(EnrollBody, { method: name })).code).toBe('invalid_request');
      expect(refusal(() => parseWith(ChallengeBody, { method: name })).code).toBe('invalid_request');
      expect(refusal(() => parseMachineRegistration('edge-1', json(`{${JSON.stringify(name)}:1}`), NOW)).message).toContain('unknown field');
      expect(refusal(() => parseWith(TokenCreateBody, json(`{${JSON.stringify(name)}:"1h"}`))).message).toContain('unknown field');
    }
  });

  it('labels: every own key is checked — `__proto__` refused, `constructor` kept as a label', () => {
    expect(refusal(() => parseMachineRegistration('edge-1', json('{"labels":{"__proto__":"x"}}'), NOW)).message).toMatch(/^labels\.__proto__: /);
    const r = parseMachineRegistration('edge-1', json('{"labels":{"constructor":"x","toString":"y"}}'), NOW);
    expect(Object.entries(r.labels)).toEqual([['constructor', 'x'], ['toString', 'y']]);
  });
});
