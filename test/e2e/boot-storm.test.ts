// Boot storm behaviour in workerd (plain Miniflare, test/support/worker-miniflare.ts) against the
// dev cluster: more enrollments at once than the cluster write governor schedules → 503
// cluster_busy with Retry-After that burns nothing (the same codes enroll on retry), and a fleet
// behind one address is not slowed by its successes. Hundreds of requests: in the vitest-pool-workers
// isolate each SELF.fetch got slower with every one sent before (test/integration/storm.test.ts
// keeps the tests that need its Durable Object helpers).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callCluster } from '../support/cluster-call.ts';
import { startWorkerStack, TEST_ADMIN_TOKEN, type WorkerStack } from '../support/worker-miniflare.ts';

const ADMIN = { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json' };
const code = (m: string) => `storm-code-${m}-0123456789abcdef`;
let stack: WorkerStack;
beforeAll(async () => {
  stack = await startWorkerStack();
}, 120_000);
afterAll(() => stack?.close());

async function register(id: string) {
  const res = await stack.worker.fetch(`/v1/machines/${id}`, { method: 'PUT', headers: ADMIN, body: JSON.stringify({ enrollmentCode: code(id) }) });
  expect(res.status).toBeLessThan(300);
  await res.body?.cancel();
}
const enroll = (id: string, ip: string, headers: Record<string, string> = {}) =>
  stack.worker.fetch('/v1/enroll', { method: 'POST', headers: { 'content-type': 'application/json', 'cf-connecting-ip': ip, ...headers }, body: JSON.stringify({ method: 'code', machineId: id, code: code(id) }) });
const machine = async (id: string) => (await (await stack.worker.fetch(`/v1/machines/${id}`, { headers: ADMIN })).json()) as { enrollmentCodeUsed: boolean; liveToken: { id: string } | null };
async function bootstrapSecrets(labelSelector: string): Promise<unknown[]> {
  const q = new URLSearchParams({ fieldSelector: 'type=bootstrap.kubernetes.io/token', labelSelector });
  const res = await callCluster(stack.cluster.url, stack.cluster.caPem, 'GET', `/api/v1/namespaces/kube-system/secrets?${q}`, { bearer: stack.cluster.serviceAccountToken });
  if (res.status !== 200) throw new Error(`list secrets: ${res.status} ${res.text}`);
  return res.json.items;
}

describe('boot storm', () => {
  it('a burst beyond the write governor → 503 cluster_busy + Retry-After, nothing burned, and each enrolls on retry', async () => {
    const ids = Array.from({ length: 80 }, (_, i) => `storm-burst-${i}`);
    await Promise.all(ids.map(register));
    // Each answer read as it arrives: bodies left unread in Node while the loop below awaits were
    // sometimes unusable by the time it got to them.
    const first = await Promise.all(ids.map(async (id, i) => {
      const res = await enroll(id, `192.0.2.${i}`);
      return { status: res.status, retryAfter: res.headers.get('retry-after'), body: await res.text() };
    }));
    const busy = ids.filter((_, i) => first[i]!.status === 503);
    expect(busy.length).toBeGreaterThan(0); // default cap 20/s (slots at 16/s), 0.6 s horizon: 80 at once cannot all fit
    for (const [i, res] of first.entries()) {
      if (res.status === 201) continue;
      expect(res.status).toBe(503);
      expect(Number(res.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(JSON.parse(res.body)).toMatchObject({ code: 'cluster_busy' });
      const m = await machine(ids[i]!);
      expect(m).toMatchObject({ enrollmentCodeUsed: false, liveToken: null });
      expect(await bootstrapSecrets(`k3s-enroll.io/machine=${ids[i]}`)).toHaveLength(0);
    }
    // Polite clients come back after Retry-After: every refused machine enrolls with the same code.
    let pending = busy;
    for (let round = 0; round < 10 && pending.length > 0; round++) {
      await new Promise((r) => setTimeout(r, 2_000));
      const again = await Promise.all(pending.map((id) => enroll(id, '192.0.2.200')));
      for (const r of again) await r.body?.cancel();
      pending = pending.filter((_, i) => again[i]!.status !== 201);
    }
    expect(pending).toEqual([]);
    for (const id of busy) expect((await bootstrapSecrets(`k3s-enroll.io/machine=${id}`)).length).toBe(1);
  }, 60_000);

  it('one NAT address for a whole fleet: successful enrollments do not count against the per-address limit', async () => {
    const ids = Array.from({ length: 70 }, (_, i) => `storm-nat-${i}`);
    await Promise.all(ids.map(register));
    const statuses: number[] = [];
    for (let i = 0; i < ids.length; i += 10) {
      const wave = await Promise.all(ids.slice(i, i + 10).map((id) => enroll(id, '203.0.113.250')));
      for (const r of wave) {
        statuses.push(r.status);
        await r.body?.cancel();
      }
    }
    expect(statuses.filter((s) => s === 201)).toHaveLength(70); // more than the 60/min that failures get
  }, 60_000);
});
