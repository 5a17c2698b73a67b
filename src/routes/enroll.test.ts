// The machine-facing routes' per-address limit in-process (Node, memory stores): every limiter key
// goes through addressLimiterKey, so the addresses of one IPv6 /64 share one budget (a /64 holds
// 2^64 addresses, one subscriber's), while IPv4 addresses and other /64s keep their own.
import { describe, expect, it } from 'vitest';
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
