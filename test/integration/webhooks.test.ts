// Signed fleet webhooks in workerd: valid, bad signature, stale timestamp, replayed id, body
// tampered after signing, out-of-order events, unknown types — with no state change when refused.
import { describe, expect, it } from 'vitest';
import { checkedFetch } from '../support/workers/openapi-contract.ts';
import { signWebhook } from '../../src/http/webhook-signature.ts';
import { bootstrapSecrets } from '../support/workers/dev-cluster.ts';

const SECRET = 'test-fleet-webhook-secret-0123456789';
const ADMIN = { authorization: 'Bearer test-admin-token-0123456789' };
const now = () => Math.floor(Date.now() / 1000);
let n = 0;
const eventId = () => `evt-${Date.now()}-${++n}`;

function post(body: string, signature: string | null) {
  return checkedFetch('https://enroll.test/v1/webhooks/fleet', { method: 'POST', headers: { 'content-type': 'application/json', ...(signature ? { 'x-enroll-signature': signature } : {}) }, body });
}
const send = (event: Record<string, unknown>, t = now()) => {
  const body = JSON.stringify(event);
  return post(body, signWebhook(SECRET, body, t));
};
const machine = async (id: string) => {
  const res = await checkedFetch(`https://enroll.test/v1/machines/${id}`, { headers: ADMIN });
  return res.status === 200 ? ((await res.json()) as Record<string, unknown>) : null;
};

describe('fleet webhooks', () => {
  it('machine.registered with a generated one-time code, returned once; the code enrolls', async () => {
    const res = await send({ id: eventId(), type: 'machine.registered', machine: { id: 'fleet-1', enrollmentCode: 'generate', labels: { rack: 'r1' } } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { applied: boolean; enrollmentCode: string };
    expect(body.applied).toBe(true);
    expect(body.enrollmentCode).toMatch(/^[a-z0-9]{32}$/);
    expect(await machine('fleet-1')).toMatchObject({ hasEnrollmentCode: true, labels: { rack: 'r1' } });
    const enroll = await checkedFetch('https://enroll.test/v1/enroll', { method: 'POST', headers: { 'content-type': 'application/json', 'cf-connecting-ip': '192.0.2.10' }, body: JSON.stringify({ method: 'code', machineId: 'fleet-1', code: body.enrollmentCode }) });
    expect(enroll.status).toBe(201);
  });

  it('machine.revoked deletes the live token', async () => {
    await send({ id: eventId(), type: 'machine.registered', machine: { id: 'fleet-2', enrollmentCode: 'fleet-2-code-0123456789' } });
    const e = await checkedFetch('https://enroll.test/v1/enroll', { method: 'POST', headers: { 'content-type': 'application/json', 'cf-connecting-ip': '192.0.2.11' }, body: JSON.stringify({ method: 'code', machineId: 'fleet-2', code: 'fleet-2-code-0123456789' }) });
    expect(e.status).toBe(201);
    const res = await send({ id: eventId(), type: 'machine.revoked', machine: { id: 'fleet-2' } });
    expect(res.status).toBe(200);
    expect(await machine('fleet-2')).toMatchObject({ revoked: true, liveToken: null });
    expect(await bootstrapSecrets('k3s-enroll.io/machine=fleet-2')).toHaveLength(0);
  });

  it('a replayed event id is acknowledged without effect', async () => {
    const id = eventId();
    await send({ id, type: 'machine.registered', machine: { id: 'fleet-3', labels: { v: '1' } } });
    await checkedFetch('https://enroll.test/v1/machines/fleet-3', { method: 'PUT', headers: { ...ADMIN, 'content-type': 'application/json' }, body: JSON.stringify({ labels: { v: 'admin' } }) });
    const replay = await send({ id, type: 'machine.registered', machine: { id: 'fleet-3', labels: { v: '1' } } }, now() + 1);
    expect(replay.status).toBe(200);
    expect(await replay.json()).toMatchObject({ applied: false, duplicate: true });
    expect(await machine('fleet-3')).toMatchObject({ labels: { v: 'admin' } });
  });

  it('out-of-order events: an older registration arriving after a revocation changes nothing', async () => {
    const t = Date.now();
    const revoked = await send({ id: eventId(), type: 'machine.revoked', occurredAt: new Date(t).toISOString(), machine: { id: 'fleet-4' } });
    expect(((await revoked.json()) as { applied: boolean }).applied).toBe(true);
    const late = await send({ id: eventId(), type: 'machine.registered', occurredAt: new Date(t - 60_000).toISOString(), machine: { id: 'fleet-4', enrollmentCode: 'fleet-4-code-0123456789' } });
    expect(await late.json()).toMatchObject({ applied: false, stale: true });
    expect(await machine('fleet-4')).toMatchObject({ revoked: true, hasEnrollmentCode: false });
    const newer = await send({ id: eventId(), type: 'machine.registered', occurredAt: new Date(t + 60_000).toISOString(), machine: { id: 'fleet-4' } });
    expect(await newer.json()).toMatchObject({ applied: true });
    expect(await machine('fleet-4')).toMatchObject({ revoked: false });
  });

  it('a revocation wins a tie: a registration with the same occurredAt, arriving later, does not reinstate', async () => {
    const at = new Date(Date.now() - 1_000).toISOString();
    await send({ id: eventId(), type: 'machine.registered', occurredAt: new Date(Date.now() - 60_000).toISOString(), machine: { id: 'fleet-tie' } });
    expect(await (await send({ id: eventId(), type: 'machine.revoked', occurredAt: at, machine: { id: 'fleet-tie' } })).json()).toMatchObject({ applied: true });
    const tie = await send({ id: eventId(), type: 'machine.registered', occurredAt: at, machine: { id: 'fleet-tie' } });
    expect(await tie.json()).toMatchObject({ applied: false, stale: true });
    expect(await machine('fleet-tie')).toMatchObject({ revoked: true });
  });

  it('an occurredAt beyond the signature tolerance ahead → 400, nothing changes, and the id stays usable', async () => {
    const id = eventId();
    const far = await send({ id, type: 'machine.revoked', occurredAt: new Date(Date.now() + 24 * 3600_000).toISOString(), machine: { id: 'fleet-future' } });
    expect(far.status).toBe(400);
    expect(await far.json()).toMatchObject({ code: 'invalid_request' });
    expect(await machine('fleet-future')).toBeNull();
    // Later events are not blocked by it, and the same id applies once corrected.
    expect(await (await send({ id, type: 'machine.registered', machine: { id: 'fleet-future' } })).json()).toMatchObject({ applied: true });
    expect(await machine('fleet-future')).toMatchObject({ revoked: false });
  });

  it.each([
    ['no signature', (b: string) => post(b, null)],
    ['a bad signature', (b: string) => post(b, signWebhook('another-secret-0123456789', b, now()))],
    ['a stale timestamp', (b: string) => post(b, signWebhook(SECRET, b, now() - 301))],
    ['a future timestamp', (b: string) => post(b, signWebhook(SECRET, b, now() + 301))],
    ['a body tampered after signing', (b: string) => post(b.replace('fleet-5', 'fleet-6'), signWebhook(SECRET, b, now()))],
    ['a malformed header', (b: string) => post(b, 'v1=abc')],
  ])('refuses %s with 401 and changes nothing', async (_n, send) => {
    const body = JSON.stringify({ id: eventId(), type: 'machine.registered', machine: { id: 'fleet-5' } });
    const res = await send(body);
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ code: 'unauthorized' });
    expect(await machine('fleet-5')).toBeNull();
    expect(await machine('fleet-6')).toBeNull();
  });

  it('an unknown event type → 422 unsupported_event, nothing changed', async () => {
    const res = await send({ id: eventId(), type: 'machine.exploded', machine: { id: 'fleet-7' } });
    expect(res.status).toBe(422);
    expect(await res.json()).toMatchObject({ code: 'unsupported_event' });
    expect(await machine('fleet-7')).toBeNull();
  });

  it('a signed but invalid registration → 400, and the event id stays usable', async () => {
    const id = eventId();
    const bad = await send({ id, type: 'machine.registered', machine: { id: 'fleet-8', groups: ['system:nodes'] } });
    expect(bad.status).toBe(400);
    const good = await send({ id, type: 'machine.registered', machine: { id: 'fleet-8' } });
    expect(await good.json()).toMatchObject({ applied: true });
  });
});
