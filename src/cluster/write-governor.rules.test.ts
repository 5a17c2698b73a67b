// The write governor's rules pinned one at a time, on virtual time: the boundaries of the send
// window, the pool and the admission lease to the millisecond, what a refill asks for, what a
// refusal says, and what happens when the governor does not answer. write-governor.test.ts holds
// the behaviour under load (the cap in every second, deletes not starved).
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  admissionLimit,
  ADMIT_LEASE_MS,
  allocateSlots,
  ClusterBusyError,
  createBatchedWriteGate,
  createLocalSlotSource,
  CREATE_HORIZON_MS,
  FORGET_AFTER_MS,
  LATE_RESLOTS_MAX,
  PACE_FRACTION,
  REFILL_TIMEOUT_MS,
  sendOnSlot,
  UNGOVERNED,
  type SlotGrant,
  type SlotRequest,
  type SlotSource,
  type WriteGate,
} from './write-governor.ts';

/** A clock that only moves when the gate sleeps (by exactly what it asked), and the sleeps asked. */
function virtual(t = 0) {
  const clock = { t };
  const sleeps: number[] = [];
  return { clock, sleeps, deps: { now: () => clock.t, sleep: async (ms: number) => void (sleeps.push(ms), (clock.t += ms)), random: () => 0 } };
}

/** The in-process schedule, recording every request made of it. */
function recording(cap: number) {
  const inner = createLocalSlotSource(cap);
  const requests: SlotRequest[] = [];
  const source: SlotSource = { allocate: (req, now) => (requests.push(req), inner.allocate(req, now)) };
  return { requests, source };
}

const slotAt = (at: number) => ({ at, giveBack: () => {} });

describe('allocateSlots', () => {
  it('refuses a cap that is not positive', () => {
    for (const cap of [0, -1, Number.NaN]) expect(() => allocateSlots(null, { creates: 1, deletes: 0 }, 0, cap)).toThrow(new TypeError('cap must be positive'));
  });

  it('busyForMs: one interval on a free schedule; past the horizon, how far past it plus one interval', () => {
    const interval = 1000 / (10 * PACE_FRACTION); // 125 ms
    expect(allocateSlots(null, { creates: 0, deletes: 0 }, 5_000, 10).grant.busyForMs).toBe(interval);
    const full = allocateSlots({ nextFreeMs: 7_000 }, { creates: 1, deletes: 0 }, 5_000, 10);
    expect(full.grant.creates).toEqual([]);
    expect(full.grant.busyForMs).toBe(2_000 - CREATE_HORIZON_MS + interval);
  });
});

describe('the gate around it', () => {
  it('sendOnSlot goes through the send window only with both a window and a slot; UNGOVERNED hands out a slot of no time', async () => {
    const through: string[] = [];
    const windowed: WriteGate = { acquire: async () => slotAt(0), send: async (_kind, _slot, write) => (through.push('window'), write()) };
    expect(await sendOnSlot(windowed, 'create', slotAt(0), async () => 'a')).toBe('a');
    expect(await sendOnSlot(windowed, 'create', null, async () => 'b')).toBe('b');
    expect(await sendOnSlot(UNGOVERNED, 'create', slotAt(0), async () => 'c')).toBe('c');
    expect(through).toEqual(['window']);
    const slot = await UNGOVERNED.acquire('create');
    expect(slot.at).toBe(-Infinity);
    expect(() => slot.giveBack()).not.toThrow();
  });

  it('ClusterBusyError says what it is', () => {
    const e = new ClusterBusyError(3);
    expect(e).toMatchObject({ code: 'cluster_busy', name: 'ClusterBusyError', reason: 'write governor: no slot within the horizon', retryAfterSeconds: 3 });
    expect(e.message).toBe('the cluster is taking as many new tokens as it safely can; retry after the given time');
  });
});

describe('refills and the pool', () => {
  it('a refill asks for the creates waiting (plus spares) or the deletes waiting; never for a kind already pooled or not waiting', async () => {
    const { deps } = virtual(1_000);
    const r = recording(10_000);
    const gate = createBatchedWriteGate(r.source, deps);
    await gate.acquire('create', { wait: false }); // pools 4 spare creates
    await gate.acquire('delete', { wait: false });
    (await gate.acquire('delete', { wait: false })).giveBack(); // a delete slot pooled
    for (let i = 0; i < 4; i++) await gate.acquire('create', { wait: false }); // the spares
    await gate.acquire('create', { wait: false });
    expect(r.requests).toEqual([{ creates: 1, deletes: 0, spareCreates: 4 }, { creates: 0, deletes: 1 }, { creates: 0, deletes: 1 }, { creates: 1, deletes: 0, spareCreates: 4 }]);
  });

  it('acquire waits until its slot\'s time unless told not to', async () => {
    const { clock, sleeps, deps } = virtual(0);
    const gate = createBatchedWriteGate(createLocalSlotSource(10), deps); // slots 125 ms apart
    expect((await gate.acquire('create')).at).toBe(0);
    expect((await gate.acquire('create', { wait: false })).at).toBe(125);
    expect(sleeps).toEqual([]);
    expect((await gate.acquire('create')).at).toBe(250);
    expect(sleeps).toEqual([250]);
    expect(clock.t).toBe(250);
  });

  it('a pooled slot is handed out up to SLOT_STALE_MS past its time, and dropped after', async () => {
    const { clock, deps } = virtual(1_000);
    const r = recording(10_000); // spares at 1,001
    const gate = createBatchedWriteGate(r.source, deps);
    expect((await gate.acquire('create', { wait: false })).at).toBe(1_000);
    clock.t = 1_001 + 100;
    expect((await gate.acquire('create', { wait: false })).at).toBe(1_001);
    expect(r.requests).toHaveLength(1);
    clock.t = 1_001 + 101;
    expect((await gate.acquire('create', { wait: false })).at).toBeGreaterThanOrEqual(clock.t);
    expect(r.requests).toHaveLength(2);
  });

  it('a slot given back is handed out again in time order, unless it is more than SLOT_STALE_MS old', async () => {
    const { clock, deps } = virtual(1_000);
    const r = recording(10); // slots 125 ms apart, no spares
    const gate = createBatchedWriteGate(r.source, deps);
    const [a, b, c] = [await gate.acquire('create', { wait: false }), await gate.acquire('create', { wait: false }), await gate.acquire('create', { wait: false })];
    expect([a.at, b.at, c.at]).toEqual([1_000, 1_125, 1_250]);
    a.giveBack();
    c.giveBack();
    b.giveBack();
    const again = [await gate.acquire('create', { wait: false }), await gate.acquire('create', { wait: false }), await gate.acquire('create', { wait: false })];
    expect(again.map((s) => s.at)).toEqual([1_000, 1_125, 1_250]);
    expect(r.requests).toHaveLength(3);
    clock.t = 1_250 + 100; // exactly SLOT_STALE_MS old: still taken back
    again[2]!.giveBack();
    expect((await gate.acquire('create', { wait: false })).at).toBe(1_250);
    const d = await gate.acquire('create', { wait: false });
    clock.t = d.at + 101;
    d.giveBack();
    expect((await gate.acquire('create', { wait: false })).at).toBeGreaterThan(d.at);
  });

  it('a short grant refuses the waiting at once: a create with the expected wait, a delete with the delete horizon', async () => {
    const { deps } = virtual(0);
    const r = recording(1); // slots 1,250 ms apart: one create within the horizon
    const gate = createBatchedWriteGate(r.source, deps);
    await gate.acquire('create', { wait: false });
    const refused = (await gate.acquire('create').catch((e: unknown) => e)) as ClusterBusyError;
    expect(refused).toBeInstanceOf(ClusterBusyError);
    expect(refused.retryAfterSeconds).toBe(2); // busy for 1,250 − 600 + 1,250 ms
    expect(refused.reason).toBe('write governor: no slot within the horizon');
    expect(r.requests).toHaveLength(2);
    // Deletes book up to 60 s ahead: 48 more fit, the next is refused, told to come back in 60 s.
    const deletes = await Promise.allSettled(Array.from({ length: 50 }, () => gate.acquire('delete', { wait: false })));
    const refusedDelete = deletes.find((x) => x.status === 'rejected') as PromiseRejectedResult;
    expect(refusedDelete.reason).toMatchObject({ code: 'cluster_busy', retryAfterSeconds: 60, reason: 'write governor: no slot within the horizon' });
  });
});

describe('a governor that does not answer', () => {
  afterEach(() => void vi.useRealTimers());

  it('the caller that asked gives up after REFILL_TIMEOUT_MS; others waiting on its call give up after GATE_WAIT_MAX_MS of polls', async () => {
    vi.useFakeTimers();
    const clock = { t: 0 };
    const gate = createBatchedWriteGate({ allocate: () => new Promise<SlotGrant>(() => {}) }, { now: () => clock.t, sleep: async () => {}, random: () => 0 });
    const first = gate.acquire('create').catch((e: unknown) => e as ClusterBusyError);
    const second = await gate.acquire('create').catch((e: unknown) => e as ClusterBusyError); // the clock stands: the call stays in flight
    expect(second).toMatchObject({ code: 'cluster_busy', reason: 'write governor: no answer in time' });
    expect(await Promise.race([first, Promise.resolve('pending')])).toBe('pending');
    await vi.advanceTimersByTimeAsync(REFILL_TIMEOUT_MS);
    expect(await first).toMatchObject({ code: 'cluster_busy', reason: `write governor unreachable: no answer in ${REFILL_TIMEOUT_MS} ms` });
  });

  it('a call that answers leaves no timer behind; one that fails after its timeout is no unhandled rejection', async () => {
    vi.useFakeTimers();
    const answered = createBatchedWriteGate(createLocalSlotSource(10), { now: () => 0, sleep: async () => {}, random: () => 0 });
    await answered.acquire('create', { wait: false });
    expect(vi.getTimerCount()).toBe(0);
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => void unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      const late = createBatchedWriteGate({ allocate: () => new Promise<SlotGrant>((_, reject) => setTimeout(() => reject(new Error('late')), REFILL_TIMEOUT_MS + 1_000)) }, { now: () => 0, sleep: async () => {}, random: () => 0 });
      const refused = late.acquire('create').catch((e: unknown) => e);
      await vi.advanceTimersByTimeAsync(REFILL_TIMEOUT_MS + 2_000);
      expect(await refused).toBeInstanceOf(ClusterBusyError);
      vi.useRealTimers();
      await new Promise((r) => setTimeout(r, 20));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('a call that ends after a newer one started does not clear the newer one\'s place: no third call while it is in flight', async () => {
    const clock = { t: 0 };
    const answers: Array<(g: SlotGrant) => void> = [];
    const gate = createBatchedWriteGate({ allocate: () => new Promise<SlotGrant>((r) => answers.push(r)) }, { now: () => clock.t, sleep: async () => {}, random: () => 0 });
    const a = gate.acquire('create', { wait: false });
    clock.t = REFILL_TIMEOUT_MS; // from this moment a's call counts as lost: b makes its own
    const b = gate.acquire('create', { wait: false }).catch((e: unknown) => e);
    await Promise.resolve();
    expect(answers).toHaveLength(2);
    answers[0]!({ creates: [clock.t], deletes: [], busyForMs: 0 }); // a's call answers late: a takes its slot
    expect((await a).at).toBe(clock.t);
    const c = await gate.acquire('create', { wait: false }).catch((e: unknown) => e); // b's call is still in flight: c polls, then gives up
    expect(c).toMatchObject({ code: 'cluster_busy', reason: 'write governor: no answer in time' });
    expect(answers).toHaveLength(2);
    answers[1]!({ creates: [], deletes: [], busyForMs: 0 });
    await b;
  });
});

describe('the send window, to the millisecond', () => {
  it('a write leaves at its slot\'s time, not before', async () => {
    const { clock, deps } = virtual(0);
    const gate = createBatchedWriteGate(createLocalSlotSource(10), deps, { sendWindowCap: 10 });
    let sentAt = -1;
    await gate.send!('create', slotAt(150), async () => void (sentAt = clock.t));
    expect(sentAt).toBe(150);
  });

  it('answered writes count until SEND_WINDOW_MS after their answer, not a millisecond longer', async () => {
    const { clock, sleeps, deps } = virtual(0);
    const gate = createBatchedWriteGate(createLocalSlotSource(1_000), deps, { sendWindowCap: 2 });
    await gate.send!('create', slotAt(0), async () => undefined); // answered at 0
    clock.t = 850;
    await gate.send!('create', slotAt(850), async () => undefined); // answered at 850
    clock.t = 900;
    await gate.send!('create', slotAt(900), async () => undefined); // full until the first answer is 1 s old
    expect(sleeps).toEqual([100]);
    expect(clock.t).toBe(1_000);
  });

  it('an unanswered write counts for FORGET_AFTER_MS, then is forgotten', async () => {
    const { clock, sleeps, deps } = virtual(0);
    const gate = createBatchedWriteGate(createLocalSlotSource(1_000), deps, { sendWindowCap: 1 });
    void gate.send!('create', slotAt(0), () => new Promise(() => {})); // never answered
    await Promise.resolve();
    clock.t = FORGET_AFTER_MS; // exactly that old: still counted, the next write looks again shortly
    let sent = false;
    await gate.send!('delete', slotAt(clock.t), async () => void (sent = true));
    expect(sent).toBe(true);
    expect(sleeps).toEqual([10]);
  });

  it('a create that would wait for the window past CREATE_HORIZON_MS is refused, saying why', async () => {
    const { deps } = virtual(0);
    const gate = createBatchedWriteGate(createLocalSlotSource(1_000), deps, { sendWindowCap: 1 });
    void gate.send!('create', slotAt(0), () => new Promise(() => {})); // never answered
    await Promise.resolve();
    const refused = await gate.send!('create', slotAt(0), async () => undefined).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'cluster_busy', reason: 'write governor: send window full' });
  });

  it('a delete that went leaves the window to creates at once (it no longer counts as waiting)', async () => {
    const { sleeps, deps } = virtual(0);
    const gate = createBatchedWriteGate(createLocalSlotSource(1_000), deps, { sendWindowCap: 5 });
    await gate.send!('delete', slotAt(0), async () => undefined);
    await gate.send!('create', slotAt(0), async () => undefined);
    expect(sleeps).toEqual([]);
  });

  it('a slot found exactly SLOT_LATE_MS late is used; one more is swapped for a fresh one, asked for without waiting', async () => {
    const { clock, deps } = virtual(200);
    const r = recording(10);
    const gate = createBatchedWriteGate(r.source, deps, { sendWindowCap: 10 });
    let sent = 0;
    await gate.send!('create', slotAt(0), async () => void sent++);
    expect(r.requests).toHaveLength(0);
    clock.t = 1_000;
    await gate.send!('create', slotAt(799), async () => void sent++);
    expect(r.requests).toEqual([{ creates: 1, deletes: 0, spareCreates: 4 }]);
    expect(sent).toBe(2);
  });

  it('a write whose every fresh slot comes too late (a starved isolate) is refused after LATE_RESLOTS_MAX fresh slots, sending nothing', async () => {
    const clock = { t: 500 };
    let calls = 0;
    const source: SlotSource = { allocate: async (_req, now) => (calls++, { creates: [now + 50], deletes: [], busyForMs: 0 }) };
    // Every timer fires 300 ms late.
    const gate = createBatchedWriteGate(source, { now: () => clock.t, sleep: async (ms) => void (clock.t += ms + 300), random: () => 0 }, { sendWindowCap: 10 });
    let sent = false;
    const refused = await gate.send!('create', slotAt(0), async () => void (sent = true)).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'cluster_busy', reason: 'write governor: every slot came too late (busy isolate)' });
    expect(calls).toBe(LATE_RESLOTS_MAX);
    expect(sent).toBe(false);
  });
});

describe('admission, to the millisecond', () => {
  it('a lease is held for exactly ADMIT_LEASE_MS; 16 refused in a second are told 1 s, the 17th 2 s', () => {
    const { clock, deps } = virtual(0);
    const cap = 20;
    const gate = createBatchedWriteGate(createLocalSlotSource(cap), deps, { sendWindowCap: cap });
    for (let i = 0; i < admissionLimit(cap); i++) gate.admit!(); // never released
    const refusal = () => {
      try {
        gate.admit!();
        return null;
      } catch (err) {
        return err as ClusterBusyError;
      }
    };
    clock.t = ADMIT_LEASE_MS; // exactly that old: still held
    expect(refusal()).toMatchObject({ code: 'cluster_busy', reason: `write governor: ${admissionLimit(cap)} enrollments already in flight in this isolate` });
    // 16 slots a second: 16 refused within a second are told 1 s, the 17th 2 s.
    for (let i = 0; i < 14; i++) refusal();
    expect(refusal()!.retryAfterSeconds).toBe(1); // the 16th
    expect(refusal()!.retryAfterSeconds).toBe(2); // the 17th
    clock.t = ADMIT_LEASE_MS + 1; // a millisecond more: the leases are gone
    expect(refusal()).toBeNull();
  });

  it('the refused crowd of one second no longer counts a second later', () => {
    const { clock, deps } = virtual(0);
    const cap = 20;
    const gate = createBatchedWriteGate(createLocalSlotSource(cap), deps, { sendWindowCap: cap });
    const release = Array.from({ length: admissionLimit(cap) }, () => gate.admit!());
    const refusal = () => {
      try {
        gate.admit!();
        return 0;
      } catch (err) {
        return (err as ClusterBusyError).retryAfterSeconds!;
      }
    };
    for (let i = 0; i < 16; i++) refusal();
    expect(refusal()).toBe(2);
    clock.t = 1_000; // the 17 refusals at 0 are exactly a second old
    expect(refusal()).toBe(1);
    release.forEach((r) => r());
  });
});
