// The cluster write governor: the cap holds in every one-second window under a burst from many
// isolates, deletes are not starved by a flood of creates, refused creates get a jittered
// Retry-After, and a burst costs one slot-source round trip per batch, not per write.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fcParams } from '../../test/support/property.ts';
import { AppError } from '../errors.ts';
import { ADMIT_LEASE_MS, allocateSlots, ClusterBusyError, createBatchedWriteGate, createLocalSlotSource, ADMIT_IN_FLIGHT_MIN, ADMIT_IN_FLIGHT_MS, admissionLimit, CREATE_HORIZON_MS, DELETE_HORIZON_MS, FORGET_AFTER_MS, PACE_FRACTION, SPARE_CREATES_MAX, SPARE_HORIZON_MS, type SlotSource, type WriteKind } from './write-governor.ts';

/** Largest number of send times inside any half-open one-second window. */
function maxPerSecond(times: number[]): number {
  const t = [...times].sort((a, b) => a - b);
  let best = 0;
  for (let i = 0, j = 0; i < t.length; i++) {
    while (t[i]! - t[j]! >= 1000) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}

describe('allocateSlots', () => {
  it('paces slots 1000/(cap × PACE_FRACTION) ms apart from now, deletes first, creates only within the horizon', () => {
    const { schedule, grant } = allocateSlots(null, { creates: 200, deletes: 2 }, 10_000, 50);
    const interval = 1000 / (50 * PACE_FRACTION); // 22.2 ms
    expect(grant.deletes).toEqual([10_000, Math.ceil(10_000 + interval)]);
    expect(grant.creates[0]).toBe(Math.ceil(10_000 + 2 * interval));
    expect(grant.creates.at(-1)! - 10_000).toBeLessThanOrEqual(CREATE_HORIZON_MS);
    expect(grant.creates.length).toBeGreaterThanOrEqual(Math.floor(CREATE_HORIZON_MS / interval) - 2);
    expect(grant.creates.length).toBeLessThanOrEqual(Math.floor(CREATE_HORIZON_MS / interval) - 1);
    expect(schedule.nextFreeMs).toBeGreaterThan(10_000 + CREATE_HORIZON_MS);
    expect(grant.busyForMs).toBeGreaterThan(0);
  });

  it('an idle schedule does not bank credit: a burst after a quiet minute is still paced', () => {
    const first = allocateSlots(null, { creates: 1, deletes: 0 }, 0, 10);
    const later = allocateSlots(first.schedule, { creates: 30, deletes: 0 }, 60_000, 10);
    expect(maxPerSecond(later.grant.creates)).toBeLessThanOrEqual(10);
  });
});

describe('spare create slots', () => {
  const interval = 1000 / (50 * PACE_FRACTION); // cap 50: 25 ms

  it('are granted only while the schedule still ends within SPARE_HORIZON_MS after them, at most SPARE_CREATES_MAX', () => {
    const free = allocateSlots(null, { creates: 1, deletes: 0, spareCreates: 100 }, 1_000, 50);
    expect(free.grant.creates).toEqual([1_000, 1_025, 1_050, 1_075]);
    expect(free.schedule.nextFreeMs).toBe(1_000 + SPARE_HORIZON_MS);
    expect(allocateSlots(null, { creates: 1, deletes: 0, spareCreates: 100 }, 1_000, 10_000).grant.creates).toHaveLength(1 + SPARE_CREATES_MAX);
    // A schedule already booked ahead grants what was wanted and nothing spare.
    const booked = allocateSlots({ nextFreeMs: 1_000 + SPARE_HORIZON_MS - 10 }, { creates: 2, deletes: 0, spareCreates: 4 }, 1_000, 50);
    expect(booked.grant.creates).toHaveLength(2);
    // At the default cap (slots 62.5 ms apart) there are none: the schedule stays within the
    // governor object's PERSIST_AHEAD_MS, so a refill costs it no storage write.
    const atDefault = allocateSlots(null, { creates: 1, deletes: 0, spareCreates: 4 }, 1_000, 20);
    expect(atDefault.grant.creates).toEqual([1_000]);
    expect(atDefault.schedule.nextFreeMs).toBeLessThanOrEqual(1_000 + 100);
  });

  it('property: spares never move the schedule past max(where the wanted slots left it, now + SPARE_HORIZON_MS), and never change the wanted slots', () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer({ min: 1, max: 200 }), fc.integer({ min: 1, max: 20_000 })), fc.option(fc.oneof(fc.integer({ min: -100, max: 250 }), fc.integer({ min: -5_000, max: 5_000 })), { nil: null }), fc.oneof(fc.nat(4), fc.nat(300)), fc.oneof(fc.constant(0), fc.nat(50)), fc.oneof(fc.integer({ min: -3, max: 8 }), fc.integer({ min: -3, max: 1_000 })), (cap, ahead, creates, deletes, spare) => {
        const now = 1_000_000;
        const schedule = ahead === null ? null : { nextFreeMs: now + ahead };
        const plain = allocateSlots(schedule, { creates, deletes }, now, cap);
        const withSpare = allocateSlots(schedule, { creates, deletes, spareCreates: spare }, now, cap);
        expect(withSpare.grant.deletes).toEqual(plain.grant.deletes);
        expect(withSpare.grant.creates.slice(0, plain.grant.creates.length)).toEqual(plain.grant.creates);
        expect(withSpare.grant.creates.length - plain.grant.creates.length).toBeLessThanOrEqual(Math.max(0, Math.min(spare, SPARE_CREATES_MAX)));
        expect(withSpare.schedule.nextFreeMs).toBeLessThanOrEqual(Math.max(plain.schedule.nextFreeMs, now + SPARE_HORIZON_MS) + 1e-6);
      }),
      fcParams(),
    );
  });

  it('spare slots spare the round trips of enrollments that come one at a time: about one governor call per three or four, the pace unchanged', async () => {
    const inner = createLocalSlotSource(50);
    let calls = 0;
    const sends: number[] = [];
    const source: SlotSource = { allocate: async (req, now) => (calls++, inner.allocate(req, now)) };
    const clock = { t: 0 };
    const gate = createBatchedWriteGate(source, { now: () => clock.t, sleep: async (ms) => void (clock.t += ms), random: () => 0.5 });
    for (let i = 0; i < 50; i++) {
      clock.t += 20; // one enrollment every 20 ms: never two waiting at once
      sends.push((await gate.acquire('create')).at);
    }
    expect(calls).toBeLessThanOrEqual(Math.ceil(50 / 3)); // was one per enrollment: 50
    expect(maxPerSecond(sends)).toBeLessThanOrEqual(50);
    for (let i = 1; i < sends.length; i++) expect(sends[i]! - sends[i - 1]!).toBeGreaterThanOrEqual(Math.floor(interval));
  });
});

describe('batched write gate', () => {
  /** A shared schedule (the Durable Object on Workers) that records every send time it grants. */
  const recording = (cap: number) => {
    const inner = createLocalSlotSource(cap);
    const sends: Array<{ kind: WriteKind; at: number }> = [];
    let calls = 0;
    const source: SlotSource = {
      async allocate(req, now) {
        calls++;
        const g = await inner.allocate(req, now);
        for (const at of g.creates) sends.push({ kind: 'create', at });
        for (const at of g.deletes) sends.push({ kind: 'delete', at });
        return g;
      },
    };
    return { source, sends, calls: () => calls };
  };
  const gateOn = (source: SlotSource, clock: { t: number }, random = 0.5) => createBatchedWriteGate(source, { now: () => clock.t, sleep: async () => {}, random: () => random });

  it('the cap holds in every one-second window under a burst from several isolates sharing one schedule', async () => {
    const cap = 50;
    const r = recording(cap);
    const clock = { t: 1_000_000 };
    const isolates = Array.from({ length: 4 }, () => gateOn(r.source, clock));
    let granted = 0;
    let busy = 0;
    // Ten waves of 300 concurrent creates (plus a few deletes), one second apart: far over the cap.
    for (let wave = 0; wave < 10; wave++) {
      const results = await Promise.allSettled(Array.from({ length: 300 }, (_, i) => isolates[i % 4]!.acquire(i % 50 === 0 ? 'delete' : 'create')));
      results.forEach((x, i) => {
        if (i % 50 === 0) expect(x.status).toBe('fulfilled'); // every delete gets its slot
        if (x.status === 'fulfilled') granted++;
        else {
          expect(x.reason).toBeInstanceOf(ClusterBusyError);
          expect((x.reason as AppError).code).toBe('cluster_busy');
          busy++;
        }
      });
      clock.t += 1000;
    }
    expect(busy).toBeGreaterThan(0);
    expect(granted).toBeLessThanOrEqual(r.sends.length); // a slot granted but not taken is wasted, never extra
    expect(maxPerSecond(r.sends.map((s) => s.at))).toBeLessThanOrEqual(cap);
  });

  it('a delete is not starved: with creates filling the horizon it still gets a slot within it', async () => {
    const r = recording(10);
    const clock = { t: 0 };
    const gate = gateOn(r.source, clock);
    await Promise.allSettled(Array.from({ length: 100 }, () => gate.acquire('create')));
    expect(r.sends.at(-1)!.at).toBeGreaterThan(CREATE_HORIZON_MS - 200); // the create horizon is full
    const more = Promise.allSettled(Array.from({ length: 100 }, () => gate.acquire('create')));
    await gate.acquire('delete');
    await more;
    const del = r.sends.find((s) => s.kind === 'delete')!;
    expect(del.at).toBeLessThanOrEqual(CREATE_HORIZON_MS + 100);
  });

  it('deletes are only refused past DELETE_HORIZON_MS, and then with cluster_busy', async () => {
    const gate = gateOn(createLocalSlotSource(1), { t: 0 });
    const results = await Promise.allSettled(Array.from({ length: DELETE_HORIZON_MS / 1000 + 10 }, () => gate.acquire('delete')));
    const refused = results.filter((x) => x.status === 'rejected');
    expect(results.length - refused.length).toBe(Math.floor((DELETE_HORIZON_MS * PACE_FRACTION) / 1000) + 1);
    expect((refused[0] as PromiseRejectedResult).reason).toBeInstanceOf(ClusterBusyError);
  });

  it('a burst costs one slot-source call per batch, not one per write', async () => {
    const r = recording(1000);
    const gate = gateOn(r.source, { t: 0 });
    await Promise.all(Array.from({ length: 200 }, () => gate.acquire('create')));
    expect(r.calls()).toBeLessThanOrEqual(2);
  });

  it('refused creates carry a Retry-After of at least the expected wait, spread by jitter', async () => {
    const refusal = async (random: number) => {
      const gate = gateOn(createLocalSlotSource(1), { t: 0 }, random);
      const rs = await Promise.allSettled(Array.from({ length: 10 }, () => gate.acquire('create')));
      return (rs.find((x) => x.status === 'rejected') as PromiseRejectedResult).reason as ClusterBusyError;
    };
    const low = await refusal(0);
    const high = await refusal(0.99);
    expect(low.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(high.retryAfterSeconds).toBeGreaterThan(low.retryAfterSeconds!);
  });

  it('admission: at most what the paced schedule serves in ADMIT_IN_FLIGHT_MS in flight per isolate (Little: that is their wait); the rest cluster_busy at once', () => {
    const cap = 50;
    const gate = createBatchedWriteGate(createLocalSlotSource(cap), { now: () => 0, sleep: async () => {}, random: () => 0 }, { sendWindowCap: cap });
    const max = admissionLimit(cap);
    expect(max).toBe(Math.ceil((cap * PACE_FRACTION * ADMIT_IN_FLIGHT_MS) / 1000));
    expect(max).toBe(16); // 40 slots a second × 0.4 s: an admitted enrollment waits ~0.4 s for its slot, not 1 s
    expect(admissionLimit(20)).toBe(ADMIT_IN_FLIGHT_MIN); // low caps keep enough in flight to use their slots
    const held = Array.from({ length: max }, () => gate.admit!());
    expect(() => gate.admit!()).toThrow(ClusterBusyError);
    held[0]!();
    held[0]!(); // releasing twice frees one place, not two
    held.push(gate.admit!());
    expect(() => gate.admit!()).toThrow(ClusterBusyError);
    // A refused crowd is told to come back over the time the schedule needs to serve it.
    const retryAfters = Array.from({ length: 60 }, () => {
      try {
        gate.admit!();
        return 0;
      } catch (err) {
        return (err as ClusterBusyError).retryAfterSeconds!;
      }
    });
    expect(retryAfters[0]).toBe(1);
    expect(retryAfters.at(-1)).toBe(Math.ceil(62 / (cap * PACE_FRACTION))); // 62 refused within the second, 40 slots a second
    expect(createBatchedWriteGate(createLocalSlotSource(cap), { now: () => 0, sleep: async () => {}, random: () => 0 }).admit).toBeUndefined(); // no cap, no admission
  });

  it('an admission or a write whose request was cancelled (never released, never answered) is forgotten after FORGET_AFTER_MS', async () => {
    const cap = 2;
    const clock = { t: 0 };
    const gate = createBatchedWriteGate(createLocalSlotSource(cap), { now: () => clock.t, sleep: async (ms) => void (clock.t += ms), random: () => 0 }, { sendWindowCap: cap });
    const max = admissionLimit(cap);
    for (let i = 0; i < max; i++) gate.admit!(); // never released
    expect(() => gate.admit!()).toThrow(ClusterBusyError);
    // Two writes that never answer fill the send window.
    for (let i = 0; i < cap; i++) {
      void gate.send!('create', await gate.acquire('create', { wait: false }), () => new Promise(() => {}));
      clock.t += 1000;
    }
    await expect(gate.send!('create', await gate.acquire('create', { wait: false }), async () => 'sent')).rejects.toThrow(ClusterBusyError); // window full
    clock.t += FORGET_AFTER_MS + 1;
    expect(() => gate.admit!()).not.toThrow();
    let sent = false;
    await gate.send!('create', await gate.acquire('create', { wait: false }), async () => void (sent = true));
    expect(sent).toBe(true);
  });

  it('an unreachable governor refuses with cluster_busy instead of writing unpaced', async () => {
    const gate = gateOn({ allocate: async () => Promise.reject(new Error('no route')) }, { t: 0 });
    await expect(gate.acquire('create')).rejects.toMatchObject({ code: 'cluster_busy' });
  });
});

/**
 * Virtual time for a busy isolate: every timer fires up to `lateMs` late (a starved event loop),
 * and the fake cluster counts each request when it arrives, `transitMs` after it was sent at most
 * (the isolate's own event loop holding it), answering as late again.
 */
function busyIsolate(seed: number, lateMs: number, transitMs: number) {
  let t = 1_000_000;
  let x = seed;
  const random = () => ((x = (x * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648);
  const timers: Array<{ at: number; fire: () => void }> = [];
  const after = (ms: number, fire: () => void) => timers.push({ at: t + Math.max(0, ms), fire });
  const arrivals: Array<{ method: string; at: number }> = [];
  const fetch = ((_url: string, init: RequestInit) =>
    new Promise<Response>((resolve) => {
      after(random() * transitMs, () => {
        arrivals.push({ method: String(init.method), at: t });
        after(random() * transitMs, () => resolve(new Response(init.method === 'POST' ? init.body as string : '{}', { status: init.method === 'POST' ? 201 : 200, headers: { date: new Date(t).toUTCString() } })));
      });
    })) as unknown as typeof globalThis.fetch;
  return {
    now: () => t,
    random,
    fetch,
    arrivals,
    sleep: (ms: number) => new Promise<void>((r) => after(ms + random() * lateMs, r)),
    /** Runs every timer in time order until `work` settles. */
    async run<T>(work: Promise<T>): Promise<T> {
      let done = false;
      void work.finally(() => (done = true)).catch(() => undefined);
      for (;;) {
        await new Promise((r) => setImmediate(r));
        if (done) return work;
        timers.sort((a, b) => a.at - b.at);
        const next = timers.shift();
        if (!next) throw new Error('nothing left to run, yet the work is not done');
        t = Math.max(t, next.at);
        next.fire();
      }
    },
  };
}

describe('send window: the cap as the cluster sees it', () => {
  it('a busy isolate (timers 300 ms late, requests held 400 ms each way) never lands more than cap creates in any second', async () => {
    const { createBootstrapTokenStore } = await import('./bootstrap-tokens.ts');
    const { createKubeHttp } = await import('./kube-http.ts');
    const cap = 20;
    for (const seed of [1, 2, 3]) {
      const vt = busyIsolate(seed, 300, 400);
      const gate = createBatchedWriteGate(createLocalSlotSource(cap), { now: vt.now, sleep: vt.sleep, random: vt.random }, { sendWindowCap: cap });
      const http = createKubeHttp({ baseUrl: 'https://api.test', bearer: 'sa', fetch: vt.fetch, now: () => new Date(vt.now()), sleep: vt.sleep, random: vt.random });
      const tokens = createBootstrapTokenStore(http, { now: () => new Date(vt.now()), gate });
      // Ten waves of 60 concurrent creates, 1.5 s apart, each retried once after cluster_busy.
      const mintOnce = () => tokens.mint({ ttlSeconds: 60 }).then(() => 'minted', (err: unknown) => ((err as AppError).code === 'cluster_busy' ? 'busy' : Promise.reject(err)));
      const waves = Array.from({ length: 10 }, (_, w) => vt.sleep(1500 * w).then(() => Promise.all(Array.from({ length: 60 }, () => mintOnce().then((r) => (r === 'busy' ? vt.sleep(1000).then(mintOnce) : r))))));
      const outcomes = (await vt.run(Promise.all(waves))).flat();
      const creates = vt.arrivals.filter((a) => a.method === 'POST').map((a) => a.at);
      expect(creates.length).toBe(outcomes.filter((o) => o === 'minted').length); // a refused create sent nothing
      expect(creates.length).toBeGreaterThan(cap * 3);
      expect(maxPerSecond(creates)).toBeLessThanOrEqual(cap);
    }
  });
});

describe('review of the merged storm work: admission leases and the send window', () => {
  const virtual = () => {
    const clock = { t: 0 };
    return { clock, deps: { now: () => clock.t, sleep: async (ms: number) => void (clock.t += ms), random: () => 0 } };
  };

  it('an admission whose request was cancelled holds its place for ADMIT_LEASE_MS, not FORGET_AFTER_MS', () => {
    const { clock, deps } = virtual();
    const gate = createBatchedWriteGate(createLocalSlotSource(20), deps, { sendWindowCap: 20 });
    for (let i = 0; i < admissionLimit(20); i++) gate.admit!(); // dropped connections: never released
    expect(() => gate.admit!()).toThrow(ClusterBusyError);
    clock.t += ADMIT_LEASE_MS + 1;
    expect(() => gate.admit!()).not.toThrow();
  });

  it('a create waits for a full send window at most CREATE_HORIZON_MS, then is refused with nothing sent', async () => {
    const { clock, deps } = virtual();
    const gate = createBatchedWriteGate(createLocalSlotSource(2), deps, { sendWindowCap: 2 });
    for (let i = 0; i < 2; i++) void gate.send!('create', { at: clock.t, giveBack: () => {} }, () => new Promise(() => {})); // never answered
    const started = clock.t;
    let sent = false;
    await expect(gate.send!('create', { at: clock.t, giveBack: () => {} }, async () => void (sent = true))).rejects.toMatchObject({ code: 'cluster_busy' });
    expect(sent).toBe(false);
    expect(clock.t - started).toBeLessThanOrEqual(CREATE_HORIZON_MS);
  });

  it('a create does not take the window before a delete that waits for it', async () => {
    const { clock, deps } = virtual();
    const gate = createBatchedWriteGate(createLocalSlotSource(1), deps, { sendWindowCap: 1 });
    let answer: () => void = () => {};
    void gate.send!('create', { at: 0, giveBack: () => {} }, () => new Promise<void>((r) => (answer = r)));
    const order: string[] = [];
    const del = gate.send!('delete', { at: clock.t, giveBack: () => {} }, async () => void order.push('delete'));
    const create = gate.send!('create', { at: clock.t, giveBack: () => {} }, async () => void order.push('create')).catch(() => order.push('create refused'));
    answer();
    await Promise.all([del, create]);
    expect(order[0]).toBe('delete');
  });
});
