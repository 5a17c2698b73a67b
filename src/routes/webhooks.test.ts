// Fleet webhook error paths in-process (the happy paths and signature checks run in workerd, in
// test/integration/webhooks.test.ts): disabled, wrong media type, malformed signed bodies.
import { describe, expect, it } from 'vitest';
import { createApp, type Services } from '../app.ts';
import { parseConfig } from '../config.ts';
import { silentLogger } from '../http/logger.ts';
import { signWebhook } from '../http/webhook-signature.ts';
import { createMemoryAuditLog, createMemoryMachineIndex, createMemoryMachineStore, createMemoryRateLimiter, createMemoryWebhookEventLog } from '../store/memory.ts';

const SECRET = 'fleet-secret-0123456789';
const base = { K3S_SERVER_URL: 'https://k3s:6443', CLUSTER_API_URL: 'https://api', CLUSTER_SA_TOKEN: 'sa', CLUSTER_CA_HASH: 'a'.repeat(64), ADMIN_TOKEN: 'admin-secret-0123456789' };
function app(vars: Record<string, string>) {
  const machines = createMemoryMachineStore();
  const services = { machines, index: createMemoryMachineIndex(), audit: createMemoryAuditLog(), webhookEvents: createMemoryWebhookEventLog(), ipLimiter: createMemoryRateLimiter(60, 60_000), verifiers: {}, ekTrust: { roots: [], intermediates: [] } } as unknown as Services;
  const config = parseConfig({ ...base, ...vars });
  return { machines, app: createApp({ loadConfig: () => config, services: () => services, logger: silentLogger }) };
}
const post = (a: ReturnType<typeof createApp>, body: string, type = 'application/json', signed = true) =>
  a.request('/v1/webhooks/fleet', { method: 'POST', body, headers: { 'content-type': type, ...(signed ? { 'x-enroll-signature': signWebhook(SECRET, body, Math.floor(Date.now() / 1000)) } : {}) } });

describe('POST /v1/webhooks/fleet error paths', () => {
  it('is 404 not_found when FLEET_WEBHOOK_SECRET is unset', async () => {
    const res = await post(app({}).app, '{}');
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ code: 'not_found' });
  });
  it('is 415 for a non-JSON content type', async () => {
    const res = await post(app({ FLEET_WEBHOOK_SECRET: SECRET }).app, '{}', 'text/plain');
    expect(res.status).toBe(415);
  });
  it.each([
    ['not JSON', 'nope', 'invalid_request'],
    ['an array', '[]', 'invalid_request'],
    ['no id', JSON.stringify({ type: 'machine.revoked', machine: { id: 'm-1' } }), 'invalid_request'],
    ['no machine', JSON.stringify({ id: 'e1', type: 'machine.revoked' }), 'invalid_request'],
    ['a bad machine id', JSON.stringify({ id: 'e1', type: 'machine.revoked', machine: { id: 'Bad_Id' } }), 'invalid_request'],
    ['a bad occurredAt', JSON.stringify({ id: 'e1', type: 'machine.revoked', occurredAt: 'yesterday', machine: { id: 'm-1' } }), 'invalid_request'],
  ])('refuses a signed body with %s, changing nothing', async (_n, body, code) => {
    const { app: a, machines } = app({ FLEET_WEBHOOK_SECRET: SECRET });
    const res = await post(a, body);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code });
    expect(await machines.get('m-1')).toBeNull();
  });
});
