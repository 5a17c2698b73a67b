// Idempotency-Key and the audit outbox in workerd against the dev cluster, with the pool's Durable
// Object helpers (alarms, storage). The boot storm itself (hundreds of requests) is
// test/e2e/boot-storm.test.ts, on plain Miniflare.
import { env, runDurableObjectAlarm, runInDurableObject, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { bootstrapSecrets, clearFaults, devRequests, fault, whoAmI } from '../support/workers/dev-cluster.ts';

const ADMIN = { authorization: 'Bearer test-admin-token-0123456789', 'content-type': 'application/json' };
const code = (m: string) => `storm-code-${m}-0123456789abcdef`;

async function register(id: string) {
  const res = await SELF.fetch(`https://enroll.test/v1/machines/${id}`, { method: 'PUT', headers: ADMIN, body: JSON.stringify({ enrollmentCode: code(id) }) });
  expect(res.status).toBeLessThan(300);
  await res.body?.cancel();
}
const enroll = (id: string, ip: string, headers: Record<string, string> = {}) =>
  SELF.fetch('https://enroll.test/v1/enroll', { method: 'POST', headers: { 'content-type': 'application/json', 'cf-connecting-ip': ip, ...headers }, body: JSON.stringify({ method: 'code', machineId: id, code: code(id) }) });

type MachineStub = ReturnType<typeof env.MACHINES.get>;
/** Records waiting in the machine's outbox. */
const outboxSize = (stub: MachineStub) => runInDurableObject(stub, async (_o, state) => [...state.storage.kv.list({ prefix: 'outbox:' })].length);
/** Waits (up to 2 s) until the machine's outbox is empty; answers what is left. */
async function outboxDrained(stub: MachineStub): Promise<number> {
  let pending = await outboxSize(stub);
  for (let i = 0; i < 100 && pending !== 0; i++) {
    await new Promise((r) => setTimeout(r, 20));
    pending = await outboxSize(stub);
  }
  return pending;
}
/** The live token's expiry moves into the past, before its alarm has run. */
const expireLiveToken = (stub: MachineStub) =>
  runInDurableObject(stub, async (_o, state) => {
    const s = state.storage.kv.get<{ liveToken: { expiresAt: number } }>('state')!;
    state.storage.kv.put('state', { ...s, liveToken: { ...s.liveToken, expiresAt: Date.now() - 1_000 } });
  });

describe('Idempotency-Key and the audit outbox', () => {
  it('a lost answer: the same code + key enrolls again, the earlier token stops working; another key is a replay', async () => {
    await register('storm-idem-1');
    const a = await enroll('storm-idem-1', '192.0.2.77', { 'idempotency-key': 'key-storm-idem-1' });
    expect(a.status).toBe(201);
    const first = (await a.json()) as { token: string; tokenId: string };
    const b = await enroll('storm-idem-1', '192.0.2.77', { 'idempotency-key': 'key-storm-idem-1' });
    expect(b.status).toBe(201);
    const second = (await b.json()) as { token: string; tokenId: string };
    expect(second.tokenId).not.toBe(first.tokenId);
    const other = await enroll('storm-idem-1', '192.0.2.77', { 'idempotency-key': 'another-key' });
    expect(other.status).toBe(409);
    expect(await other.json()).toMatchObject({ code: 'code_used' });
    // The earlier token is owed a delete, sent right after the answer: gone within moments, not at
    // the 30 s backstop alarm (which would send it, were that lost).
    let firstLogin = 0;
    for (let i = 0; i < 100 && firstLogin !== 401; i++) {
      firstLogin = (await whoAmI(first.token.split('::')[1]!)).status;
      if (firstLogin !== 401) await new Promise((r) => setTimeout(r, 30));
    }
    expect(firstLogin).toBe(401);
    const stub = env.MACHINES.get(env.MACHINES.idFromName('storm-idem-1'));
    await runDurableObjectAlarm(stub);
    expect((await whoAmI(first.token.split('::')[1]!)).status).toBe(401);
    expect((await whoAmI(second.token.split('::')[1]!)).status).toBe(201);
    expect((await bootstrapSecrets('k3s-enroll.io/machine=storm-idem-1')).map((x) => x.metadata.name)).toEqual([`bootstrap-token-${second.tokenId}`]);
  });

  it('a crash between the answer and the audit write loses nothing: the record waits in the object\'s outbox and its alarm writes it once', async () => {
    await register('storm-outbox-1');
    const res = await enroll('storm-outbox-1', '192.0.2.78');
    expect(res.status).toBe(201);
    const { tokenId } = (await res.json()) as { tokenId: string };
    const rid = res.headers.get('x-request-id')!;
    const stub = env.MACHINES.get(env.MACHINES.idFromName('storm-outbox-1'));
    // The answer went out with the audit record saved beside the state it describes (no D1 write
    // on the response path; it is written just after the answer). If that write never happens (a
    // crash), the alarm flushes it — twice here, as after a crash between the D1 write and the
    // outbox delete: stored once.
    type Rec = { id: string; view: unknown; audit: { requestId: string; tokenId: string } };
    const pending = await runInDurableObject(stub, async (_o, state) => [...state.storage.kv.list<Rec>({ prefix: 'outbox:' })]);
    const inD1 = async () => (await env.DB.prepare('SELECT token_id FROM audit WHERE request_id = ?').bind(rid).all<{ token_id: string }>()).results;
    let saved = pending.find(([, r]) => r.audit.requestId === rid);
    if (saved) expect(saved[1].audit).toMatchObject({ requestId: rid, tokenId });
    else {
      // Already written after the answer: the record is in D1 under its (server-chosen) id.
      expect(await inD1()).toEqual([{ token_id: tokenId }]);
      const row = await env.DB.prepare('SELECT record_id FROM audit WHERE request_id = ?').bind(rid).first<{ record_id: string }>();
      saved = [`outbox:${row!.record_id}`, { id: row!.record_id, view: null, audit: { at: Date.now(), event: 'enroll', outcome: 'success', machineId: 'storm-outbox-1', method: 'code', code: null, reason: null, tokenId, requestId: rid, actor: null, clientIp: null } as never }];
    }
    const [key, record] = saved;
    await runDurableObjectAlarm(stub);
    // The same record again, as if the object crashed after the D1 write and before the outbox delete.
    await runInDurableObject(stub, async (_o, state) => state.storage.kv.put(key, record));
    await runDurableObjectAlarm(stub);
    expect(await inD1()).toEqual([{ token_id: tokenId }]);
    expect(await outboxSize(stub)).toBe(0);
  });
  it('the audit record is written to D1 right after the answer, not by a timer; the alarm is only a backstop, then back at the token\'s expiry', async () => {
    await register('storm-outbox-2');
    const res = await enroll('storm-outbox-2', '192.0.2.79');
    expect(res.status).toBe(201);
    const { tokenId, expiresAt } = (await res.json()) as { tokenId: string; expiresAt: string };
    const rid = res.headers.get('x-request-id')!;
    const stub = env.MACHINES.get(env.MACHINES.idFromName('storm-outbox-2'));
    const alarmAt = () => runInDurableObject(stub, async (_o, state) => state.storage.getAlarm());
    // Never a short flush timer (it was 250 ms): the backstop (30 s) or already the expiry.
    expect((await alarmAt())! - Date.now()).toBeGreaterThan(20_000);
    let row: { token_id: string } | null = null;
    for (let i = 0; i < 100 && !row; i++) {
      row = await env.DB.prepare('SELECT token_id FROM audit WHERE request_id = ?').bind(rid).first<{ token_id: string }>();
      if (!row) await new Promise((r) => setTimeout(r, 20));
    }
    expect(row).toEqual({ token_id: tokenId });
    expect(await outboxDrained(stub)).toBe(0);
    // Flushed: the alarm is back where the token needs it, its expiry.
    let at: number | null = null;
    for (let i = 0; i < 100; i++) {
      at = await alarmAt();
      if (at !== null && Math.abs(at - Date.parse(expiresAt)) < 2_000) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(Math.abs(at! - Date.parse(expiresAt))).toBeLessThan(2_000);
  });
  it('machines enrolling together share the D1 writer: every record reaches D1 within moments (not the 30 s backstop), every outbox empties', async () => {
    const ids = Array.from({ length: 6 }, (_, i) => `storm-batch-${i}`);
    for (const id of ids) await register(id);
    const answers = await Promise.all(ids.map((id, i) => enroll(id, `192.0.2.${100 + i}`)));
    const rids = answers.map((r) => r.headers.get('x-request-id')!);
    expect(answers.map((r) => r.status)).toEqual(ids.map(() => 201));
    for (const r of answers) await r.body?.cancel();
    const inD1 = async () => (await env.DB.prepare(`SELECT request_id FROM audit WHERE event = 'enroll' AND request_id IN (${rids.map(() => '?').join(',')})`).bind(...rids).all()).results.length;
    let found = 0;
    for (let i = 0; i < 150 && found < ids.length; i++) {
      found = await inD1();
      if (found < ids.length) await new Promise((r) => setTimeout(r, 20));
    }
    expect(found).toBe(ids.length);
    for (const id of ids) expect(await outboxDrained(env.MACHINES.get(env.MACHINES.idFromName(id)))).toBe(0);
  });
  it('a request that runs the after-answer housekeeping on a machine whose token expired still records the join expiry (it is not just deleted)', async () => {
    await register('storm-expiry-1');
    const res = await enroll('storm-expiry-1', '192.0.2.120');
    expect(res.status).toBe(201);
    const { tokenId, token } = (await res.json()) as { tokenId: string; token: string };
    // The token's expiry passes before its alarm has run.
    await expireLiveToken(env.MACHINES.get(env.MACHINES.idFromName('storm-expiry-1')));
    // Anyone knowing the machine id sends a bad proof: refused, and its audit record goes out at once.
    const bad = await SELF.fetch('https://enroll.test/v1/enroll', { method: 'POST', headers: { 'content-type': 'application/json', 'cf-connecting-ip': '192.0.2.121' }, body: JSON.stringify({ method: 'code', machineId: 'storm-expiry-1', code: 'not-the-code-0123456789abcdef' }) });
    expect(bad.status).toBe(401);
    await bad.body?.cancel();
    let expired: unknown = null;
    for (let i = 0; i < 100 && !expired; i++) {
      expired = await env.DB.prepare("SELECT token_id FROM audit WHERE event = 'machine.join_expired' AND machine_id = 'storm-expiry-1'").first();
      if (!expired) await new Promise((r) => setTimeout(r, 20));
    }
    expect(expired).toEqual({ token_id: tokenId });
    // Recorded first, then deleted (the outcome is about that token).
    let login = 0;
    for (let i = 0; i < 100 && login !== 401; i++) {
      login = (await whoAmI(token.split('::')[1]!)).status;
      if (login !== 401) await new Promise((r) => setTimeout(r, 20));
    }
    expect(login).toBe(401);
  });
  it('housekeeping runs one at a time per object: two at once send an expired token\'s delete once and record its expiry once', async () => {
    await register('storm-single-1');
    const res = await enroll('storm-single-1', '192.0.2.140');
    expect(res.status).toBe(201);
    const { tokenId } = (await res.json()) as { tokenId: string };
    const stub = env.MACHINES.get(env.MACHINES.idFromName('storm-single-1'));
    // The after-answer write is done (the outbox empties), then the token expires unjoined.
    expect(await outboxDrained(stub)).toBe(0);
    await expireLiveToken(stub);
    // The alarm and a second run (as an answer's housekeeping would start) at the same moment.
    await runInDurableObject(stub, async (o) => {
      await Promise.all([o.alarm!(), o.alarm!()]);
    });
    const deletes = (await devRequests()).filter((r) => r.method === 'DELETE' && r.path.endsWith(`/bootstrap-token-${tokenId}`));
    expect(deletes.map((r) => r.status)).toEqual([200]);
    const expired = await env.DB.prepare("SELECT token_id FROM audit WHERE event = 'machine.join_expired' AND machine_id = 'storm-single-1'").all();
    expect(expired.results).toEqual([{ token_id: tokenId }]);
    expect(await bootstrapSecrets('k3s-enroll.io/machine=storm-single-1')).toEqual([]);
  });

  it('a create without a definite answer is deleted by the alarm, not right after the answer (a late create must not be missed)', async () => {
    const SECRETS = '/api/v1/namespaces/kube-system/secrets';
    await register('storm-ambig-1');
    // The create lands but its answer is a 500, and the read-back fails too: nobody knows.
    await fault({ method: 'POST', pathPrefix: SECRETS, mode: 'status-after-write', status: 500, times: 1 });
    await fault({ method: 'GET', pathPrefix: SECRETS, mode: 'status', status: 500, times: 50 });
    const res = await enroll('storm-ambig-1', '192.0.2.130');
    await clearFaults();
    expect(res.status).toBe(503);
    await res.body?.cancel();
    const stub = env.MACHINES.get(env.MACHINES.idFromName('storm-ambig-1'));
    const pending = await runInDurableObject(stub, async (_o, state) => state.storage.kv.get<{ pendingDeletes: Array<{ id: string; uid: string }> }>('state')!.pendingDeletes);
    expect(pending).toEqual([{ id: expect.stringMatching(/^[a-z0-9]{6}$/), uid: '' }]);
    await new Promise((r) => setTimeout(r, 500));
    // Still there half a second after the answer (the after-answer housekeeping left it alone)...
    expect((await bootstrapSecrets('k3s-enroll.io/machine=storm-ambig-1')).map((x) => x.metadata.name)).toEqual([`bootstrap-token-${pending[0]!.id}`]);
    expect((await runInDurableObject(stub, async (_o, state) => state.storage.getAlarm()))! - Date.now()).toBeGreaterThan(20_000);
    // ...and deleted by the alarm.
    await runDurableObjectAlarm(stub);
    expect(await bootstrapSecrets('k3s-enroll.io/machine=storm-ambig-1')).toEqual([]);
  });
});
