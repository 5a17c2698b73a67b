import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createBatchedCalls } from './batched-calls.ts';

const tick = () => new Promise((r) => setTimeout(r, 0));

/** A fake clock: timers fire only when advanced; `drop` loses the next timer set (a dead context). */
function fakeTime() {
  let t = 0;
  let timers: Array<{ at: number; fn: () => void; live: boolean }> = [];
  let dropNext = false;
  return {
    now: () => t,
    setTimer: (fn: () => void, ms: number) => {
      const timer = { at: t + ms, fn, live: !dropNext };
      dropNext = false;
      timers.push(timer);
      return () => void (timer.live = false);
    },
    drop: () => void (dropNext = true),
    pending: () => timers.filter((x) => x.live).length,
    async advance(ms: number) {
      t += ms;
      for (;;) {
        const due = timers.filter((x) => x.live && x.at <= t);
        if (due.length === 0) break;
        timers = timers.filter((x) => !due.includes(x));
        for (const x of due) x.fn();
        await tick();
      }
      await tick();
    },
  };
}

describe('createBatchedCalls', () => {
  it('callers in the same turn share one call; callers during a call share the next', async () => {
    const sent: number[][] = [];
    let release: () => void = () => undefined;
    const b = createBatchedCalls<number>(async (items) => {
      sent.push(items);
      await new Promise<void>((r) => (release = r));
    });
    const first = [b.call(1), b.call(2), b.call(3)];
    await tick();
    expect(sent).toEqual([[1]]); // no linger: the first caller sends at once
    const second = [b.call(4), b.call(5)];
    await tick();
    expect(sent).toHaveLength(1); // the first batch is still in flight
    release();
    await first[0];
    await tick();
    expect(sent).toEqual([[1], [2, 3, 4, 5]]);
    release();
    await Promise.all([...first, ...second]);
  });

  it('lingerMs: the first caller waits for company; a full batch leaves without waiting', async () => {
    const time = fakeTime();
    const sent: number[][] = [];
    const b = createBatchedCalls<number>(async (items) => void sent.push(items), { maxBatch: 3, lingerMs: 25, setTimer: time.setTimer, now: time.now });
    const a = [b.call(1), b.call(2)];
    await tick();
    expect(sent).toEqual([]); // lingering
    await time.advance(25);
    await Promise.all(a);
    expect(sent).toEqual([[1, 2]]);
    expect(time.pending()).toBe(0); // no timer left behind
  });

  it('a failed batch rejects exactly its own callers; the next batch still goes', async () => {
    let fail = true;
    const b = createBatchedCalls<string>(async () => {
      if (fail) {
        fail = false;
        throw new Error('watcher down');
      }
    });
    await expect(b.call('a')).rejects.toThrow('watcher down');
    await expect(b.call('b')).resolves.toBeUndefined();
  });

  it('a batch that never settles is given up after callTimeoutMs; its callers get the error and the next batch goes', async () => {
    const time = fakeTime();
    const sent: string[][] = [];
    const b = createBatchedCalls<string>(
      async (items) => {
        sent.push(items);
        if (items.includes('lost')) await new Promise(() => undefined); // never answers
      },
      { callTimeoutMs: 1_000, setTimer: time.setTimer, now: time.now },
    );
    const lost = b.call('lost');
    const outcome = lost.then(() => 'ok', (e: Error) => e.message);
    const queued = b.call('next');
    await tick();
    expect(sent).toEqual([['lost']]);
    await time.advance(1_000);
    expect(await outcome).toBe('no answer in 1000 ms');
    await queued;
    expect(sent).toEqual([['lost'], ['next']]);
    expect(time.pending()).toBe(0);
  });

  it('a leader whose timer never fires (its context gone) is taken over by a waiter after its deadline', async () => {
    const time = fakeTime();
    const sent: number[][] = [];
    const b = createBatchedCalls<number>(async (items) => void sent.push(items), { lingerMs: 10, callTimeoutMs: 100, setTimer: time.setTimer, now: time.now });
    time.drop(); // the first caller's linger timer is lost
    const stuck = b.call(1);
    const waiting = b.call(2);
    await time.advance(10);
    expect(sent).toEqual([]); // the leader never woke
    await time.advance(101); // its deadline (linger + call timeout) passed: the waiter leads
    await time.advance(10); // the new leader's linger
    await waiting;
    await stuck; // item 1 went in the waiter's batch
    expect(sent).toEqual([[1, 2]]);
  });

  it('never sends more than maxBatch items, and every item exactly once, in order', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 7 }), fc.constantFrom(0, 1, 3), fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 40 }), async (maxBatch, linger, gaps) => {
        const sent: number[][] = [];
        let inFlight = 0;
        let most = 0;
        const b = createBatchedCalls<number>(
          async (items) => {
            inFlight++;
            most = Math.max(most, inFlight);
            sent.push(items);
            await tick();
            inFlight--;
          },
          { maxBatch, lingerMs: linger },
        );
        const calls: Promise<void>[] = [];
        for (let i = 0; i < gaps.length; i++) {
          calls.push(b.call(i));
          for (let g = 0; g < gaps[i]!; g++) await tick();
        }
        await Promise.all(calls);
        expect(sent.every((s) => s.length >= 1 && s.length <= maxBatch)).toBe(true);
        expect(sent.flat()).toEqual(gaps.map((_, i) => i));
        expect(most).toBe(1); // one call at a time
      }),
      { numRuns: 60 },
    );
  });
});
