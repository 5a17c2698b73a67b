// What buildBootstrapTokenSecret refuses, said the way kubeadm / k3s say it, at each bound. The
// message is what `k3s-token` and the API print; it never carries the token secret.
import { describe, expect, it } from 'vitest';
import { buildBootstrapTokenSecret, formatExpiration, TokenError, validateTokenGroups, validateTokenUsages } from './index.ts';

const base = { id: 'abcdef', secret: '0123456789abcdef', expiresAt: null };
const message = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(TokenError);
    expect((e as TokenError).code).toBe('invalid_token');
    return (e as Error).message;
  }
  throw new Error('accepted');
};
const build = (over: Record<string, unknown>) => () => buildBootstrapTokenSecret({ ...base, ...over } as never);

describe('bootstrap token Secret refusals', () => {
  it('id and secret: the pattern each must match, whatever the value', () => {
    for (const id of ['ABCDEF', 'abcde', 42]) expect(message(build({ id }))).toBe('token id must match [a-z0-9]{6}');
    for (const secret of ['0123456789ABCDEF', '0123456789abcde', 42]) expect(message(build({ secret }))).toBe('token secret must match [a-z0-9]{16}');
    // The whole value must match: nothing before or after 16 (or 6) valid characters.
    for (const secret of ['00123456789abcdef', '0123456789abcdef0']) expect(message(build({ secret }))).toBe('token secret must match [a-z0-9]{16}');
    for (const id of ['aabcdef', 'abcdefa']) expect(message(build({ id }))).toBe('token id must match [a-z0-9]{6}');
    // A string, not something that prints as a valid one.
    expect(message(build({ id: ['abcdef'] }))).toBe('token id must match [a-z0-9]{6}');
    expect(message(build({ secret: ['0123456789abcdef'] }))).toBe('token secret must match [a-z0-9]{16}');
  });

  it('usages and groups', () => {
    expect(message(build({ usages: ['signing'] }))).toBe('token groups cannot be specified unless --usages includes "authentication"');
    expect(buildBootstrapTokenSecret({ ...base, usages: ['signing'], groups: [] }).data).not.toHaveProperty('auth-extra-groups');
    expect(message(() => validateTokenUsages('signing' as never))).toBe('usages must be a list');
    expect(message(() => validateTokenUsages(['signing', 'auth\u0001x']))).toBe('invalid bootstrap token usage string: auth?x, valid usage options: signing,authentication');
    expect(validateTokenUsages(['signing', 'signing', 'authentication'])).toEqual(['signing', 'authentication']);
    expect(message(() => validateTokenGroups('system:bootstrappers:a' as never))).toBe('groups must be a list');
    expect(message(() => validateTokenGroups(['system:bootstrappers:a', 'system:nodes\n']))).toBe('bootstrap group "system:nodes?" is invalid (must match ^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$)');
    expect(message(() => validateTokenGroups([7 as never]))).toMatch(/^bootstrap group "7" is invalid/);
    expect(message(() => validateTokenGroups([['system:bootstrappers:a'] as never]))).toMatch(/^bootstrap group "system:bootstrappers:a" is invalid/);
    // The authenticator's pattern, whole: the prefix first, a last character of [a-z0-9], 1 to 256
    // characters after the prefix.
    const P = 'system:bootstrappers:';
    expect(validateTokenGroups([`${P}a`, `${P}${'a'.repeat(256)}`, `${P}k3s:x-1`])).toEqual([`${P}a`, `${P}${'a'.repeat(256)}`, `${P}k3s:x-1`]);
    for (const g of [`x${P}a`, `${P}a-`, `${P}a:`, `${P}a `, `${P}${'a'.repeat(257)}`, P]) expect(message(() => validateTokenGroups([g]))).toMatch(/^bootstrap group ".*" is invalid/);
    // The group in the message is cut at 300 characters.
    expect(message(() => validateTokenGroups([`x${'y'.repeat(400)}`]))).toBe(`bootstrap group "x${'y'.repeat(299)}" is invalid (must match ^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$)`);
  });

  it('description: up to 1024 printable characters; empty means none', () => {
    expect(Object.keys(buildBootstrapTokenSecret({ ...base, description: '' }).data)).not.toContain('description');
    expect(atob(buildBootstrapTokenSecret({ ...base, description: 'x'.repeat(1024) }).data.description!)).toHaveLength(1024);
    for (const description of ['x'.repeat(1025), 'a\u001fb', 'a\u007fb', '\u0000', 42]) {
      expect(message(build({ description }))).toBe('description must be at most 1024 printable characters');
    }
    expect(atob(buildBootstrapTokenSecret({ ...base, description: 'a ~b' }).data.description!)).toBe('a ~b');
  });

  it('expiration: a valid time in years 0001-9999, at second precision with Z', () => {
    expect(message(() => formatExpiration('2026-01-01T00:00:00Z' as never))).toBe('expiration must be a valid time');
    expect(message(() => formatExpiration(new Date(Number.NaN)))).toBe('expiration must be a valid time');
    expect(message(() => formatExpiration(new Date('+010000-01-01T00:00:00Z')))).toBe('expiration must be between years 0001 and 9999');
    expect(message(() => formatExpiration(new Date('0000-12-31T23:59:59Z')))).toBe('expiration must be between years 0001 and 9999');
    expect(formatExpiration(new Date('0001-01-01T00:00:00.999Z'))).toBe('0001-01-01T00:00:00Z');
    expect(formatExpiration(new Date('9999-12-31T23:59:59.000Z'))).toBe('9999-12-31T23:59:59Z');
  });

  it('labels: Kubernetes label syntax at its bounds; no labels, no metadata.labels', () => {
    expect(buildBootstrapTokenSecret({ ...base, labels: {} }).metadata).not.toHaveProperty('labels');
    const ok = {
      [`${'a'.repeat(63)}`]: 'v',
      [`${'p'.repeat(253)}/n`]: '',
      'k3s-enroll.io/machine': `${'b'.repeat(63)}`,
      'a.b-c_d': 'A.b-c_9',
      'a.b.c/x': 'v',
      'a.bc/y': 'v',
      'k3s.example-1.io/z': 'v',
      x: 'Z',
    };
    expect(buildBootstrapTokenSecret({ ...base, labels: ok }).metadata.labels).toEqual(ok);
    const bad: Record<string, string>[] = [
      { [`${'a'.repeat(64)}`]: 'v' },
      { [`${'p'.repeat(254)}/n`]: 'v' },
      { 'k3s-enroll.io/': 'v' },
      { '/name': 'v' },
      { 'Example.com/name': 'v' },
      { 'ex_ample.com/name': 'v' },
      { '-name': 'v' },
      { 'name-': 'v' },
      { name: '-v' },
      { name: 'v-' },
      { name: 'v w' },
      { name: 'b'.repeat(64) },
      { name: 7 as never },
      { name: ['v'] as never },
      { 'a\u0000b': 'v' },
    ];
    for (const labels of bad) expect(message(build({ labels }))).toBe(`label "${Object.keys(labels)[0]!.replace(/[^\x20-\x7e]/g, '?')}" is not a valid Kubernetes label`);
  });
});
