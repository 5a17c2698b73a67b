// The machine-facing routes' per-address limit in-process (Node, memory stores): every limiter key
// goes through addressLimiterKey, so the addresses of one IPv6 /64 share one budget (a /64 holds
// 2^64 addresses, one subscriber's), while IPv4 addresses and other /64s keep their own.
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hasOpenssl, makeDeviceCerts } from '../../test/support/device-pki.ts';
import { parseEkRoots } from '../attest/tpm/index.ts';
import { createApp, type Services } from '../app.ts';
import { parseConfig } from '../config.ts';
import { silentLogger } from '../http/logger.ts';
import { createMemoryAuditLog, createMemoryChallengeStore, createMemoryMachineIndex, createMemoryMachineStore, createMemoryRateLimiter, createMemoryWebhookEventLog } from '../store/memory.ts';

const config = parseConfig({ K3S_SERVER_URL: 'https://k3s:6443', CLUSTER_API_URL: 'https://api', CLUSTER_SA_TOKEN: 'sa-secret-value', CLUSTER_CA_HASH: 'a'.repeat(64), ADMIN_TOKEN: 'admin-secret-0123456789' });
const LIMIT = 3;

function build() {
  const index = createMemoryMachineIndex();
  const services: Services = {
    machines: createMemoryMachineStore((v) => void index.upsert(v)),
    index,
    audit: createMemoryAuditLog(),
    challenges: createMemoryChallengeStore(),
    webhookEvents: createMemoryWebhookEventLog(),
    ipLimiter: createMemoryRateLimiter(LIMIT, 60_000),
    cluster: {} as Services['cluster'],
    verifiers: {},
    ekTrust: { roots: [], intermediates: [] },
  };
  const app = createApp({ loadConfig: () => config, services: () => services, logger: silentLogger });
  // A malformed body is a counted rejection (invalid_request) that touches nothing else.
  return (path: string, ip: string) => app.request(`https://enroll.test${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'cf-connecting-ip': ip }, body: '{not json' });
}

describe.each(['/v1/enroll', '/v1/enroll/challenge'])('%s per-address limit', (path) => {
  it('the addresses of one IPv6 /64 share one budget; another /64 and IPv4 addresses do not', async () => {
    const post = build();
    const statuses: number[] = [];
    for (let i = 1; i <= LIMIT + 1; i++) statuses.push((await post(path, `2001:db8:aa:bb::${i.toString(16)}`)).status);
    expect(statuses).toEqual([...Array<number>(LIMIT).fill(400), 429]);
    expect((await post(path, '2001:db8:aa:bb:ffff:1:2:3')).status).toBe(429);
    expect((await post(path, '2001:db8:aa:bc::1')).status).toBe(400);
    for (let i = 1; i <= LIMIT + 1; i++) expect((await post(path, `192.0.2.${i}`)).status).toBe(400);
  });
});

// Review #11: opening a challenge needs only public material and costs a stored challenge and an
// audit record, so every open (answered or not) is charged to the address, on its own budget.
describe('challenge opens per address (CHALLENGE_OPENS_PER_MINUTE)', () => {
  const BUDGET = 3;
  it.skipIf(!hasOpenssl)('successful opens are counted; over the budget it is 429 rate_limited and nothing is stored or audited', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'k3s-enroll-challenge-budget-'));
    try {
      makeDeviceCerts(dir, ['device'], 1);
      const cert = new X509Certificate(readFileSync(join(dir, 'device.pem'))).raw;
      const index = createMemoryMachineIndex();
      const machines = createMemoryMachineStore((v) => void index.upsert(v));
      const challenges = createMemoryChallengeStore();
      const audit = createMemoryAuditLog();
      const services: Services = {
        machines,
        index,
        audit,
        challenges,
        webhookEvents: createMemoryWebhookEventLog(),
        ipLimiter: createMemoryRateLimiter(100, 60_000),
        challengeLimiter: createMemoryRateLimiter(BUDGET, 60_000),
        cluster: {} as Services['cluster'],
        verifiers: {},
        ekTrust: { roots: [], intermediates: [] },
        deviceTrust: parseEkRoots(readFileSync(join(dir, 'ca.pem'), 'utf8')),
      };
      const registration = { id: 'dev-1', enrollmentCodeSha256: null, enrollmentCodeExpiresAt: null, jwtSubject: null, ekPublicKeySha256: null, certificateSha256: createHash('sha256').update(cert).digest('hex'), groups: null, labels: {}, tokenTtlSeconds: null };
      await machines.register(registration, Date.now());
      const app = createApp({ loadConfig: () => config, services: () => services, logger: silentLogger });
      const open = (ip: string) => app.request('https://enroll.test/v1/enroll/challenge', { method: 'POST', headers: { 'content-type': 'application/json', 'cf-connecting-ip': ip }, body: JSON.stringify({ method: 'x509', machineId: 'dev-1', certificate: cert.toString('base64') }) });
      for (let i = 0; i < BUDGET; i++) expect((await open('198.51.100.7')).status).toBe(201);
      const stored = challenges.records.size;
      const audited = (await audit.list({ limit: 1000 })).length;
      const over = await open('198.51.100.7');
      expect(over.status).toBe(429);
      expect(over.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
      expect(await over.json()).toMatchObject({ code: 'rate_limited' });
      expect(challenges.records.size).toBe(stored);
      expect((await audit.list({ limit: 1000 })).length).toBe(audited);
      // Another address has its own budget.
      expect((await open('198.51.100.8')).status).toBe(201);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
