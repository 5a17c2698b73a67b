import { describe, expect, it } from 'vitest';
import vectors from '../../test/vectors/bootstrap-secret.json' with { type: 'json' };
import { buildBootstrapTokenSecret, formatExpiration, TokenError, validateTokenGroups } from './index.ts';

const decode = (data: Record<string, string>) => Object.fromEntries(Object.entries(data).map(([k, v]) => [k, atob(v)]));
const base = { id: 'abcdef', secret: '0123456789abcdef', expiresAt: new Date('2026-11-29T16:42:21.512Z') };

describe('buildBootstrapTokenSecret', () => {
  it('builds the Secret k3s token create would, with k3s defaults', () => {
    const s = buildBootstrapTokenSecret(base);
    expect(s.metadata).toEqual({ name: 'bootstrap-token-abcdef', namespace: 'kube-system' });
    expect(s.type).toBe('bootstrap.kubernetes.io/token');
    expect(decode(s.data)).toEqual({
      'token-id': 'abcdef',
      'token-secret': '0123456789abcdef',
      expiration: '2026-11-29T16:42:21Z',
      'usage-bootstrap-signing': 'true',
      'usage-bootstrap-authentication': 'true',
      'auth-extra-groups': 'system:bootstrappers:k3s:default-node-token',
    });
  });

  it('writes no expiration for a token that never expires, and the description when set', () => {
    const s = buildBootstrapTokenSecret({ ...base, expiresAt: null, description: 'edge-1 via jwt', usages: ['authentication'], groups: [] });
    expect(decode(s.data)).toEqual({ 'token-id': 'abcdef', 'token-secret': '0123456789abcdef', description: 'edge-1 via jwt', 'usage-bootstrap-authentication': 'true' });
  });

  it('joins groups with "," and no spaces, deduplicated', () => {
    const groups = ['system:bootstrappers:k3s:default-node-token', 'system:bootstrappers:edge', 'system:bootstrappers:edge'];
    expect(decode(buildBootstrapTokenSecret({ ...base, groups }).data)['auth-extra-groups']).toBe('system:bootstrappers:k3s:default-node-token,system:bootstrappers:edge');
  });

  it('sets labels that pass Kubernetes label syntax', () => {
    const s = buildBootstrapTokenSecret({ ...base, labels: { 'k3s-enroll.io/machine': 'edge-1', 'k3s-enroll.io/method': 'jwt' } });
    expect(s.metadata.labels).toEqual({ 'k3s-enroll.io/machine': 'edge-1', 'k3s-enroll.io/method': 'jwt' });
  });

  it.each([
    ['uppercase id', { id: 'ABCDEF' }],
    ['short id', { id: 'abcde' }],
    ['id with newline', { id: 'abcdef\n' }],
    ['uppercase secret', { secret: '0123456789ABCDEF' }],
    ['secret with newline', { secret: '0123456789abcde\n' }],
    ['unknown usage', { usages: ['auth'] }],
    ['usage with newline', { usages: ['authentication\n'] }],
    ['groups without authentication usage', { usages: ['signing'] }],
    ['bad group', { groups: ['system:nodes'] }],
    ['group list with trailing comma element', { groups: ['system:bootstrappers:a', ''] }],
    ['invalid date', { expiresAt: new Date(Number.NaN) }],
    ['year past 9999', { expiresAt: new Date('+010000-01-01T00:00:00Z') }],
    ['control character in description', { description: 'a\u0000b' }],
    ['description too long', { description: 'x'.repeat(1025) }],
    ['label value with space', { labels: { machine: 'edge 1' } }],
    ['label key uppercase prefix', { labels: { 'Example.com/a': 'b' } }],
    ['label value too long', { labels: { a: 'b'.repeat(64) } }],
  ])('refuses %s', (_name, override) => {
    expect(() => buildBootstrapTokenSecret({ ...base, ...override } as never)).toThrow(TokenError);
  });
});

describe('group rule (authenticator regex)', () => {
  it.each(vectors.groups.valid)('accepts %s', (g) => {
    expect(validateTokenGroups([g])).toEqual([g]);
  });
  it.each(vectors.groups.invalid)('rejects %s', (g) => {
    expect(() => validateTokenGroups([g])).toThrow(TokenError);
  });
});

describe('formatExpiration', () => {
  it.each(vectors.expiration)('$ms → $text', (v) => {
    expect(formatExpiration(new Date(v.ms))).toBe(v.text);
  });
});
