// The single-call enrollment and Idempotency-Key over an in-memory cell: a lost answer retried
// with the same proof and key gets a fresh token (the earlier one owed a delete), another key is
// a replay, the window closes, a retry during the first attempt's mint takes it over without
// leaving an orphan, a busy governor burns nothing, and every outcome lands in the outbox.
import { describe, expect, it } from 'vitest';
import { hashEnrollmentCode } from '../attest/code.ts';
import { ClusterBusyError, createBatchedWriteGate, type WriteGate } from '../cluster/write-governor.ts';
import { toView } from '../store/machine-cell.ts';
import { generateBootstrapToken } from '../token/index.ts';
import { enrollInCell, type AtomicCell, type AtomicEnrollInput, type OutboxRecord } from './atomic-enroll.ts';
import { IDEMPOTENCY_WINDOW_MS, type StateWithKey } from './idempotency.ts';
import { applyRegistration, applyRevocation } from './machine-state.ts';
import { applyJoinEvent } from './join-state.ts';

const CODE = 'first-boot-code-0123456789';
const T0 = Date.parse('2026-01-01T00:00:00Z');

function setup(options: { gate?: WriteGate; mintGate?: Promise<void> } = {}) {
  let state: StateWithKey | null = applyRegistration(null, { id: 'm-1', enrollmentCodeSha256: hashEnrollmentCode(CODE), enrollmentCodeExpiresAt: null, jwtSubject: null, ekPublicKeySha256: null, certificateSha256: null, groups: null, labels: {}, tokenTtlSeconds: null }, T0).state;
  const outbox: OutboxRecord[] = [];
  const minted: string[] = [];
  const cell: AtomicCell = { load: () => state, save: (s) => void (state = s), outbox: (r) => void outbox.push(r), view: (s) => toView(s) };
  const clock = { t: T0 + 1000 };
  let hold = options.mintGate ?? null;
  const deps = {
    gate: options.gate ?? { acquire: async () => ({ at: Number.POSITIVE_INFINITY, giveBack: () => {} }) },
    now: () => clock.t,
    tokens: {
      async mint() {
        const token = generateBootstrapToken();
        minted.push(token.id);
        if (hold) {
          const h = hold;
          hold = null;
          await h;
        }
        return { token, expiresAt: null, uid: `uid-${token.id}`, createdAt: null };
      },
    },
  };
  let n = 0;
  const input = (key: string | null): AtomicEnrollInput => ({ machineId: 'm-1', method: 'code', proof: { method: 'code', codeSha256: hashEnrollmentCode(CODE) }, usedJwt: null, reservationId: `r-${++n}`, idempotencyKeySha256: key, defaults: { tokenTtlSeconds: 600, tokenGroups: [] }, requestId: `req-${n}`, clientIp: null });
  return { cell, deps, input, outbox, minted, clock, state: () => state };
}

describe('enrollment in one call, with Idempotency-Key', () => {
  it('same proof + same key after a lost answer → a fresh token; the earlier one is owed a delete', async () => {
    const t = setup();
    const first = await enrollInCell(t.cell, t.input('k1'), t.deps);
    const again = await enrollInCell(t.cell, t.input('k1'), t.deps);
    expect(again.minted.token.id).not.toBe(first.minted.token.id);
    expect(t.state()!.liveToken!.id).toBe(again.minted.token.id);
    expect(again.owed.map((x) => x.id)).toContain(first.minted.token.id);
    expect(t.state()!.pendingDeletes.map((x) => x.id)).toContain(first.minted.token.id);
  });

  it('same proof under another key, or none, is still a replay; so is the same key after the window', async () => {
    const t = setup();
    await enrollInCell(t.cell, t.input('k1'), t.deps);
    await expect(enrollInCell(t.cell, t.input('k2'), t.deps)).rejects.toMatchObject({ code: 'code_used' });
    await expect(enrollInCell(t.cell, t.input(null), t.deps)).rejects.toMatchObject({ code: 'code_used' });
    t.clock.t += IDEMPOTENCY_WINDOW_MS + 1;
    await expect(enrollInCell(t.cell, t.input('k1'), t.deps)).rejects.toMatchObject({ code: 'code_used' });
    expect(t.minted).toHaveLength(1);
  });

  it('a retry while the first attempt is still minting takes it over: one live token, the other owed a delete', async () => {
    let release = () => {};
    const t = setup({ mintGate: new Promise<void>((r) => (release = r)) });
    const first = enrollInCell(t.cell, t.input('k1'), t.deps).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 0)); // the first attempt is reserved and minting
    const retry = await enrollInCell(t.cell, t.input('k1'), t.deps);
    release();
    expect(await first).toMatchObject({ code: 'conflict' }); // superseded: its client is gone anyway
    const s = t.state()!;
    expect(s.liveToken!.id).toBe(retry.minted.token.id);
    const orphan = t.minted.find((id) => id !== retry.minted.token.id)!;
    expect(s.pendingDeletes.map((x) => x.id)).toContain(orphan); // no Secret left that no machine holds
  });

  it('a busy governor → cluster_busy, nothing reserved or burned, the refusal is in the outbox', async () => {
    const t = setup({ gate: { acquire: async () => Promise.reject(new ClusterBusyError(3)) } });
    const before = t.state();
    await expect(enrollInCell(t.cell, t.input('k1'), t.deps)).rejects.toMatchObject({ code: 'cluster_busy', retryAfterSeconds: 3 });
    expect(t.state()).toEqual(before);
    expect(t.minted).toEqual([]);
    expect(t.outbox.at(-1)!.audit).toMatchObject({ outcome: 'failure', code: 'cluster_busy', machineId: 'm-1' });
  });

  it('every outcome is recorded in the outbox with the listing view (flushed later by the owner)', async () => {
    const t = setup();
    const ok = await enrollInCell(t.cell, t.input('k1'), t.deps);
    await expect(enrollInCell(t.cell, t.input('k9'), t.deps)).rejects.toMatchObject({ code: 'code_used' });
    expect(t.outbox.map((r) => [r.id, r.audit.outcome, r.audit.tokenId])).toEqual([
      ['r-1:enroll', 'success', ok.minted.token.id],
      ['r-2:enroll', 'failure', null],
    ]);
    expect(t.outbox[0]!.view).toMatchObject({ id: 'm-1', liveToken: { id: ok.minted.token.id } });
  });

  it('a caller-chosen request id cannot make one audit record replace another (review #3)', async () => {
    const t = setup();
    const same = (key: string) => ({ ...t.input(key), requestId: 'attacker-chosen-id' });
    await enrollInCell(t.cell, same('k1'), t.deps);
    await expect(enrollInCell(t.cell, same('k9'), t.deps)).rejects.toMatchObject({ code: 'code_used' });
    const ids = t.outbox.map((r) => r.id);
    expect(new Set(ids).size).toBe(2);
    expect(t.outbox.map((r) => r.audit.requestId)).toEqual(['attacker-chosen-id', 'attacker-chosen-id']);
  });

  it('a mint that failed after sending a create (e.g. timed out) owes that id a delete; the code stays usable', async () => {
    const t = setup();
    const { createBootstrapTokenStore } = await import('../cluster/bootstrap-tokens.ts');
    const { createKubeHttp } = await import('../cluster/kube-http.ts');
    // The clock probe answers; the create and its read-back time out: the create's fate is unknown.
    const flaky = ((url: string, init: RequestInit) =>
      init.method === 'GET' && url.includes('?')
        ? Promise.resolve(new Response('{"items":[]}', { headers: { date: 'Thu, 01 Jan 2026 00:00:00 GMT' } }))
        : new Promise((_r, reject) => init.signal?.addEventListener('abort', () => reject(init.signal!.reason)))) as unknown as typeof fetch;
    const http = createKubeHttp({ baseUrl: 'https://api.test', bearer: 'sa', fetch: flaky, now: () => new Date(), timeoutMs: 20, retries: 0, sleep: async () => {} });
    const store = createBootstrapTokenStore(http, { now: () => new Date('2026-01-01T00:00:00Z') });
    await expect(enrollInCell(t.cell, t.input('k1'), { ...t.deps, tokens: store })).rejects.toMatchObject({ code: 'upstream_unavailable' });
    const s = t.state()!;
    expect(s.reservation).toBeNull();
    expect(s.codeUsedAt).toBeNull();
    expect(s.pendingDeletes).toHaveLength(1); // owed a delete by name: if it lands later, the alarm removes it
    expect(s.pendingDeletes[0]).toMatchObject({ uid: '' });
    expect((await enrollInCell(t.cell, t.input('k1'), t.deps)).minted.token.id).toMatch(/^[a-z0-9]{6}$/); // the code still works
  });

  it('a slot gone stale while the reservation became durable is exchanged for a fresh one; no fresh one → cluster_busy, nothing burned', async () => {
    const { createKubeHttp } = await import('../cluster/kube-http.ts');
    const { createBootstrapTokenStore } = await import('../cluster/bootstrap-tokens.ts');
    let calls = 0;
    const t = setup();
    // The governor grants one slot (now), then is busy; making the reservation durable takes 10 s.
    const gate = createBatchedWriteGate(
      { allocate: async (req, now) => (++calls === 1 ? { creates: Array.from({ length: req.creates }, () => now), deletes: [], busyForMs: 0 } : { creates: [], deletes: [], busyForMs: 2000 }) },
      { now: () => t.clock.t, sleep: async (ms) => void (t.clock.t += ms), random: () => 0.5 },
    );
    const sent: string[] = [];
    const fetch = (async (_url: string, init: RequestInit) => (sent.push(String(init.method)), new Response('{}', { status: 201 }))) as unknown as typeof globalThis.fetch;
    const tokens = createBootstrapTokenStore(createKubeHttp({ baseUrl: 'https://api.test', bearer: 'sa', fetch, now: () => new Date(t.clock.t) }), { now: () => new Date(t.clock.t), gate });
    const cell: AtomicCell = { ...t.cell, flush: async () => void (t.clock.t += 10_000) };
    await expect(enrollInCell(cell, t.input('k1'), { ...t.deps, gate, tokens })).rejects.toMatchObject({ code: 'cluster_busy' });
    expect(calls).toBe(2);
    expect(sent.filter((m) => m !== 'GET')).toEqual([]); // no create left on the stale slot (a GET reads the cluster's clock)
    expect(t.state()!.reservation).toBeNull();
    expect(t.state()!.codeUsedAt).toBeNull();
    expect(t.state()!.pendingDeletes).toEqual([]); // nothing was sent, so nothing is owed a delete
  });

  it('join-watch work runs alongside the create and is finished before the answer: committed → true; a failed mint → false', async () => {
    const t = setup();
    const log: string[] = [];
    const alongside = (ttl: number | null) => {
      log.push(`start ttl=${ttl} minted=${t.minted.length}`);
      return async (committed: boolean) => void log.push(`finish ${committed} live=${t.state()?.liveToken?.id ?? null}`);
    };
    const ok = await enrollInCell(t.cell, t.input('k1'), { ...t.deps, alongside });
    expect(log).toEqual(['start ttl=600 minted=0', `finish true live=${ok.minted.token.id}`]); // started before the create, finished after the commit
    log.length = 0;
    const failing = { ...t.deps, alongside, tokens: { mint: async () => Promise.reject(new Error('connection reset')) } };
    await expect(enrollInCell(t.cell, t.input('k1'), failing)).rejects.toMatchObject({ code: 'upstream_unavailable' });
    expect(log).toEqual(['start ttl=600 minted=1', `finish false live=${ok.minted.token.id}`]);
    // A refusal before the reservation never starts it.
    log.length = 0;
    await expect(enrollInCell(t.cell, t.input('k2'), { ...t.deps, alongside })).rejects.toMatchObject({ code: 'code_used' });
    expect(log).toEqual([]);
  });
});

describe('Idempotency-Key: the retry window never outlives its enrollment (review #4)', () => {
  it('retries never extend the window: the same proof + key is a replay once the first answer is IDEMPOTENCY_WINDOW_MS old', async () => {
    const t = setup();
    await enrollInCell(t.cell, t.input('k1'), t.deps);
    const answeredAt = t.clock.t;
    t.clock.t = answeredAt + IDEMPOTENCY_WINDOW_MS - 60_000;
    await enrollInCell(t.cell, t.input('k1'), t.deps); // a late retry inside the window: fine
    t.clock.t = answeredAt + IDEMPOTENCY_WINDOW_MS + 1;
    await expect(enrollInCell(t.cell, t.input('k1'), t.deps)).rejects.toMatchObject({ code: 'code_used' });
  });

  it('a revocation ends the key: after a re-registration with the same code, the old key is a replay too', async () => {
    const t = setup();
    await enrollInCell(t.cell, t.input('k1'), t.deps);
    const reg = t.state()!.registration;
    t.cell.save(applyRevocation(t.state(), t.clock.t).state);
    t.cell.save(applyRegistration(t.state(), reg, t.clock.t).state);
    await expect(enrollInCell(t.cell, t.input('k1'), t.deps)).rejects.toMatchObject({ code: 'code_used' });
    await expect(enrollInCell(t.cell, t.input(null), t.deps)).rejects.toMatchObject({ code: 'code_used' });
  });

  it('the join ends the key: a machine whose Node joined gets no second token by retrying', async () => {
    const t = setup();
    await enrollInCell(t.cell, t.input('k1'), t.deps);
    t.clock.t += 5_000;
    const node = { name: 'm-1', uid: 'uid-node-1', createdAt: t.clock.t, readyHeartbeatAt: t.clock.t, labels: {}, passwordCreatedAt: t.clock.t };
    const joined = applyJoinEvent(t.state(), { type: 'node', node }, t.clock.t);
    expect(joined.outcome.joined).toBe(true);
    t.cell.save(joined.state);
    await expect(enrollInCell(t.cell, t.input('k1'), t.deps)).rejects.toMatchObject({ code: 'code_used' });
  });
});
