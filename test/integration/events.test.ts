// Outbound events through the Cloudflare Queue: a receiver that fails the first attempts still
// gets every event, signed, exactly as recorded.
import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { cluster } from '../support/workers/dev-cluster.ts';

const ADMIN = { authorization: 'Bearer test-admin-token-0123456789', 'content-type': 'application/json' };

async function deliveries(): Promise<Array<{ type: string; machineId: string; attempts: number; signatureOk: boolean }>> {
  return (await fetch(`${cluster.eventsUrl}/deliveries`)).json();
}

describe('outbound enrollment events', () => {
  it('survive a receiver that fails the first two attempts', async () => {
    await SELF.fetch('https://enroll.test/v1/machines/flaky-events', { method: 'PUT', headers: ADMIN, body: JSON.stringify({ enrollmentCode: 'flaky-events-code-0123456789' }) });
    const bad = await SELF.fetch('https://enroll.test/v1/enroll', { method: 'POST', headers: { 'content-type': 'application/json', 'cf-connecting-ip': '192.0.2.50' }, body: JSON.stringify({ method: 'code', machineId: 'flaky-events', code: 'wrong-code-0123456789abc' }) });
    expect(bad.status).toBe(401);
    const ok = await SELF.fetch('https://enroll.test/v1/enroll', { method: 'POST', headers: { 'content-type': 'application/json', 'cf-connecting-ip': '192.0.2.50' }, body: JSON.stringify({ method: 'code', machineId: 'flaky-events', code: 'flaky-events-code-0123456789' }) });
    expect(ok.status).toBe(201);
    const revoke = await SELF.fetch('https://enroll.test/v1/machines/flaky-events', { method: 'DELETE', headers: ADMIN });
    expect(revoke.status).toBe(200);

    let got: Awaited<ReturnType<typeof deliveries>> = [];
    for (let i = 0; i < 240 && got.length < 3; i++) {
      got = (await deliveries()).filter((d) => d.machineId === 'flaky-events');
      if (got.length < 3) await new Promise((r) => setTimeout(r, 250));
    }
    expect(got.map((d) => d.type).sort()).toEqual(['machine.enrolled', 'machine.enrollment_rejected', 'machine.revoked']);
    expect(got.every((d) => d.signatureOk)).toBe(true);
    expect(got.every((d) => d.attempts === 3)).toBe(true);
  }, 120_000);
});
