import { describe, expect, it } from 'vitest';
import { parseConfig } from './config.ts';
import { ConfigError } from './errors.ts';

const valid = {
  K3S_SERVER_URL: 'https://k3s.example.com:6443',
  CLUSTER_API_URL: 'https://k3s-api.example.com',
  CLUSTER_SA_TOKEN: 'sa-token-value',
  CLUSTER_CA_HASH: 'a'.repeat(64),
  ADMIN_TOKEN: 'admin-token-0123456789',
};

function configError(vars: Record<string, unknown>): ConfigError {
  try {
    parseConfig(vars);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected ConfigError');
}

describe('parseConfig', () => {
  it('parses a minimal valid config with defaults', () => {
    const c = parseConfig(valid);
    expect(c).toMatchObject({ k3sServerUrl: 'https://k3s.example.com:6443', tokenTtlSeconds: 600, tokenGroups: ['system:bootstrappers:k3s:default-node-token'], caHashMode: 'pem', tpmAllowUnregistered: false, jwtIssuers: [] });
    expect(Object.isFrozen(c)).toBe(true);
    expect(c.adminTokenSha256).toHaveLength(32);
    expect(JSON.stringify(c)).not.toContain('admin-token-0123456789');
  });

  it('reports every missing variable at once, by name', () => {
    const err = configError({});
    expect(err.code).toBe('misconfigured');
    expect(err.variables).toEqual(['K3S_SERVER_URL', 'CLUSTER_API_URL', 'CLUSTER_SA_TOKEN', 'CLUSTER_CA_PEM', 'ADMIN_TOKEN']);
  });

  it('names bad variables without echoing their values', () => {
    const err = configError({ ...valid, ADMIN_TOKEN: 'short-secret', K3S_SERVER_URL: 'http://k3s:6443', TOKEN_TTL: '1d', TOKEN_GROUPS: 'system:nodes', JWT_ISSUERS: '{nope' });
    expect([...err.variables].sort()).toEqual(['ADMIN_TOKEN', 'JWT_ISSUERS', 'K3S_SERVER_URL', 'TOKEN_GROUPS', 'TOKEN_TTL']);
    expect(`${err.message} ${err.reason}`).not.toContain('short-secret');
  });

  it.each([
    ['TOKEN_TTL', '30s'],
    ['TOKEN_TTL', '25h'],
    ['TOKEN_TTL', 'abc'],
    ['CA_HASH_MODE', 'der'],
    ['CLUSTER_CA_HASH', 'A'.repeat(64)],
    ['CLUSTER_CA_PEM', 'not a pem'],
    ['TPM_ALLOW_UNREGISTERED', 'yes'],
    ['QUARANTINE_UNATTESTED', 'on'],
    ['TPM_EK_ROOTS_PEM', 'nothing'],
    ['FLEET_WEBHOOK_SECRET', 'tooshort'],
    ['EVENTS_WEBHOOK_URL', 'ftp://x'],
    ['CLUSTER_API_URL', 'https://user:pw@k3s'],
    ['CLUSTER_API_URL', 'http://10.0.0.1:6443'],
    ['ACCESS_TEAM_DOMAIN', 'example.com'],
    ['CLUSTER_ACCESS_CLIENT_ID', 'id-only'],
    ['JWT_ISSUERS', '[{"issuer":"http://x","jwksUri":"https://x/jwks","audience":"a"}]'],
    ['JWT_ISSUERS', '[{"issuer":"https://x","audience":"a"}]'],
    ['JWT_ISSUERS', '[{"issuer":"https://x","jwksUri":"https://x/j","audience":"a","algorithms":["HS256"]}]'],
    ['JWT_ISSUERS', '[{"issuer":"https://x","jwksUri":"https://x/j","audience":"a","algorithms":["none"]}]'],
    ['JWT_ISSUERS', '[{"issuer":"https://x","jwksUri":"https://x/j"}]'],
    ['JWT_ISSUERS', '{}'],
    ['K3S_SERVER_URL', 42],
    ['TPM_PCR_POLICY', '{"pcrs":[],"allowedDigests":["' + 'a'.repeat(64) + '"]}'],
    ['TPM_PCR_POLICY', '{"pcrs":[24],"allowedDigests":["' + 'a'.repeat(64) + '"]}'],
    ['TPM_PCR_POLICY', '{"pcrs":[0],"allowedDigests":["xyz"]}'],
    ['TPM_PCR_POLICY', 'not json'],
    ['TRUSTED_PROXIES', '10.0.0.0/33'],
    ['TRUSTED_PROXIES', 'proxy.internal'],
    ['TRUSTED_PROXIES', '127.0.0.1;10.0.0.1'],
  ])('rejects %s=%s', (name, value) => {
    const err = configError({ ...valid, [name]: value });
    expect(err.variables.length).toBeGreaterThan(0);
    const expectedName = name === 'ACCESS_TEAM_DOMAIN' ? 'ACCESS_AUD' : name === 'CLUSTER_ACCESS_CLIENT_ID' ? 'CLUSTER_ACCESS_CLIENT_SECRET' : name;
    expect(err.variables).toContain(expectedName);
  });

  it('trusts no proxy by default; TRUSTED_PROXIES takes addresses and CIDR ranges', () => {
    expect(parseConfig(valid).trustedProxies).toEqual([]);
    const c = parseConfig({ ...valid, TRUSTED_PROXIES: '127.0.0.1, 10.0.0.0/8, fd00::/8' });
    expect(c.trustedProxies.map((r) => r.prefix)).toEqual([32, 8, 8]);
    expect(Object.isFrozen(c.trustedProxies)).toBe(true);
    const err = configError({ ...valid, TRUSTED_PROXIES: 'secret-looking-host.internal' });
    expect(err.variables).toEqual(['TRUSTED_PROXIES']);
    expect(`${err.message} ${err.reason}`).not.toContain('secret-looking-host');
  });

  it('parses a PCR policy (sorted PCRs)', () => {
    const c = parseConfig({ ...valid, TPM_PCR_POLICY: JSON.stringify({ pcrs: [7, 0, 1], allowedDigests: ['b'.repeat(64)] }) });
    expect(c.tpmPcrPolicy).toEqual({ pcrs: [0, 1, 7], allowedDigests: ['b'.repeat(64)] });
  });

  it('allows http only for a loopback cluster API (the local dev cluster)', () => {
    expect(parseConfig({ ...valid, CLUSTER_API_URL: 'http://127.0.0.1:6443' }).clusterApiUrl).toBe('http://127.0.0.1:6443');
  });

  it('accepts Cloudflare Access instead of an admin token', () => {
    const { ADMIN_TOKEN: _a, ...rest } = valid;
    const c = parseConfig({ ...rest, ACCESS_TEAM_DOMAIN: 'myteam.cloudflareaccess.com', ACCESS_AUD: 'aud-tag' });
    expect(c.access).toEqual({ teamDomain: 'myteam.cloudflareaccess.com', aud: 'aud-tag' });
    expect(c.adminTokenSha256).toBeNull();
  });

  it('parses JWT issuers with defaults', () => {
    const c = parseConfig({ ...valid, JWT_ISSUERS: JSON.stringify([{ issuer: 'https://idp.example.com', jwksUri: 'https://idp.example.com/jwks', audience: 'k3s-enroll' }]) });
    expect(c.jwtIssuers[0]).toMatchObject({ machineIdClaim: 'sub', algorithms: ['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA'] });
  });

  it('signs outbound events with EVENTS_WEBHOOK_SECRET, which is required with EVENTS_WEBHOOK_URL', () => {
    const c = parseConfig({ ...valid, FLEET_WEBHOOK_SECRET: 'fleet-secret-0123456789', EVENTS_WEBHOOK_URL: 'https://events.example.com/in', EVENTS_WEBHOOK_SECRET: 'events-secret-0123456789' });
    expect(c.eventsWebhookSecret).toBe('events-secret-0123456789');
    expect(c.fleetWebhookSecret).toBe('fleet-secret-0123456789');
    expect(configError({ ...valid, EVENTS_WEBHOOK_URL: 'https://events.example.com/in', FLEET_WEBHOOK_SECRET: 'fleet-secret-0123456789' }).variables).toEqual(['EVENTS_WEBHOOK_SECRET']);
  });

  it('is misconfigured, naming both variables and neither value, when the events and fleet secrets are equal', () => {
    const same = 'one-secret-both-ways-0123456789';
    const err = configError({ ...valid, FLEET_WEBHOOK_SECRET: same, EVENTS_WEBHOOK_URL: 'https://events.example.com/in', EVENTS_WEBHOOK_SECRET: same });
    expect(err.code).toBe('misconfigured');
    expect([...err.variables].sort()).toEqual(['EVENTS_WEBHOOK_SECRET', 'FLEET_WEBHOOK_SECRET']);
    expect(`${err.message} ${err.reason} ${JSON.stringify(err.extensions)}`).not.toContain(same);
  });

  it('AUDIT_RETENTION_DAYS: a year by default, 0 keeps everything, anything but a whole number of days is misconfigured', () => {
    expect(parseConfig(valid).auditRetentionDays).toBe(365);
    expect(parseConfig({ ...valid, AUDIT_RETENTION_DAYS: '0' }).auditRetentionDays).toBe(0);
    expect(parseConfig({ ...valid, AUDIT_RETENTION_DAYS: '30' }).auditRetentionDays).toBe(30);
    for (const bad of ['-1', '1.5', '30d', ' 30', '1e3', '99999', 'NaN']) expect(configError({ ...valid, AUDIT_RETENTION_DAYS: bad }).variables).toEqual(['AUDIT_RETENTION_DAYS']);
  });
});
