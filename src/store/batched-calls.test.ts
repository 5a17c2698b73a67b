import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createBatchedCalls, type BatchedCalls } from './batched-calls.ts';

const tick = () => new Promise((r) => setTimeout(r, 0));

/** A fake clock: timers fire only when advanced; `drop()` loses the next timer set (a context gone). */
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
      const end = t + ms;
      for (;;) {
        await tick();
        const next = timers.filter((x) => x.live && x.at <= end).sort((a, b) => a.at - b.at)[0];
        if (!next) break;
        t = Math.max(t, next.at);
        timers = timers.filter((x) => x !== next);
        next.fn();
      }
      t = end;
      await tick();
    },
  };
}

/** What one caller does: submit, do its own sending if it is the sender, then wait for its ticket. */
async function call<T>(b: BatchedCalls<T>, item: T, pollMs = 5): Promise<void> {
  const { ticket, sending } = b.submit(item);
  await sending;
  await b.wait(ticket, pollMs);
}

/** A batcher whose sends wait until released: sent batches are recorded. */
function heldBatches() {
  const sent: number[][] = [];
  let release: () => void = () => undefined;
  const b = createBatchedCalls<number>(async (items) => {
    sent.push(items);
    await new Promise<void>((r) => (release = r));
  });
  return { b, sent, release: () => release() };
}

describe('createBatchedCalls', () => {
  it('the submitter that finds it idle sends; items submitted meanwhile share the next batch, sent by one of their own', async () => {
    const { b, sent, release } = heldBatches();
    const first = b.submit(1);
    expect(first.sending).not.toBeNull();
    const others = [2, 3, 4].map((i) => b.submit(i));
    expect(others.every((o) => o.sending === null)).toBe(true); // a batch is being sent
    const waits = others.map((o) => b.wait(o.ticket, 1));
    await tick();
    expect(sent).toEqual([[1]]);
    release();
    await first.sending;
    expect(first.ticket).toMatchObject({ settled: true, error: undefined });
    for (let i = 0; i < 20 && sent.length < 2; i++) await new Promise((r) => setTimeout(r, 2));
    expect(sent).toEqual([[1], [2, 3, 4]]); // sent as soon as the first batch settled
    release();
    await Promise.all(waits);
  });

  it('lingerMs: the sender waits for company, then sends everything queued, up to maxBatch', async () => {
    const time = fakeTime();
    const sent: number[][] = [];
    const b = createBatchedCalls<number>(async (items) => void sent.push(items), { maxBatch: 3, lingerMs: 25, setTimer: time.setTimer, now: time.now });
    const calls = [1, 2, 3, 4].map((i) => call(b, i));
    await tick();
    expect(sent).toEqual([]); // lingering
    await time.advance(25);
    expect(sent[0]).toEqual([1, 2, 3]);
    await time.advance(1); // item 4 leaves as soon as the first batch settled, without a second linger
    await Promise.all(calls);
    expect(sent).toEqual([[1, 2, 3], [4]]);
    expect(time.pending()).toBe(0); // no timer left behind
  });

  it('what queued during a batch leaves when it settles, though no owner is polling', async () => {
    const { b, sent, release } = heldBatches();
    const first = b.submit(1);
    const queued = [b.submit(2), b.submit(3)];
    release();
    await first.sending;
    await tick();
    expect(sent).toEqual([[1], [2, 3]]);
    release();
    await tick();
    expect(queued.every((q) => q.ticket.settled && q.ticket.error === undefined)).toBe(true);
  });

  it('a send may fail single items: only their tickets get the error', async () => {
    const b = createBatchedCalls<string>(async (items) => items.map((i) => (i === 'bad' ? new Error(`refused ${i}`) : undefined)), { lingerMs: 5 });
    const results = await Promise.all(['ok-1', 'bad', 'ok-2'].map((i) => call(b, i).then(() => 'ok', (e: Error) => e.message)));
    expect(results).toEqual(['ok', 'refused bad', 'ok']);
  });

  it('a failed batch fails exactly its own tickets; the next batch still goes', async () => {
    let fail = true;
    const b = createBatchedCalls<string>(async () => {
      if (fail) {
        fail = false;
        throw new Error('D1 down');
      }
    });
    await expect(call(b, 'a')).rejects.toThrow('D1 down');
    await expect(call(b, 'b')).resolves.toBeUndefined();
  });

  it('a batch that never settles is given up after callTimeoutMs; its callers get the error, the next batch goes', async () => {
    const time = fakeTime();
    const sent: string[][] = [];
    const b = createBatchedCalls<string>(
      async (items) => {
        sent.push(items);
        if (items.includes('lost')) await new Promise(() => undefined); // never answers
      },
      { callTimeoutMs: 1_000, setTimer: time.setTimer, now: time.now },
    );
    const lost = call(b, 'lost').then(() => 'ok', (e: Error) => e.message);
    const next = call(b, 'next');
    await tick();
    expect(sent).toEqual([['lost']]);
    await time.advance(1_000);
    expect(await lost).toBe('no answer in 1000 ms');
    await time.advance(10);
    await next;
    expect(sent).toEqual([['lost'], ['next']]);
    expect(time.pending()).toBe(0);
  });

  it('a sender that never comes back (its timer lost with its context) is taken over after its deadline', async () => {
    const time = fakeTime();
    const sent: number[][] = [];
    const b = createBatchedCalls<number>(async (items) => void sent.push(items), { lingerMs: 10, callTimeoutMs: 100, setTimer: time.setTimer, now: time.now });
    time.drop(); // the first sender's linger timer is lost
    const stuck = b.submit(1);
    const waiting = call(b, 2);
    await time.advance(50);
    expect(sent).toEqual([]); // nobody sends while the first sender's deadline holds
    await time.advance(200); // past it: the waiter sends everything queued
    await waiting;
    expect(sent).toEqual([[1, 2]]);
    expect(stuck.ticket).toMatchObject({ settled: true, error: undefined }); // its item went too
  });

  it('a ticket taken into a batch whose sender vanished fails at the deadline instead of waiting forever', async () => {
    const time = fakeTime();
    const b = createBatchedCalls<number>(async () => new Promise<void>(() => undefined), { callTimeoutMs: 100, setTimer: time.setTimer, now: time.now });
    time.drop(); // the sender's call deadline is lost
    const { ticket } = b.submit(1); // taken into a batch that never answers
    const waiting = b.wait(ticket, 10).then(() => 'ok', (e: Error) => e.message);
    await time.advance(150);
    expect(await waiting).toBe('no answer in 100 ms');
  });

  it('never sends more than maxBatch items, every item exactly once and in order, one batch at a time', async () => {
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
          calls.push(call(b, i, 1));
          for (let g = 0; g < gaps[i]!; g++) await tick();
        }
        await Promise.all(calls);
        expect(sent.every((s) => s.length >= 1 && s.length <= maxBatch)).toBe(true);
        expect(sent.flat()).toEqual(gaps.map((_, i) => i));
        expect(most).toBe(1);
      }),
      { numRuns: 60 },
    );
  });
});

describe('createBatchedCalls, to the millisecond', () => {
  afterEach(() => void vi.useRealTimers());

  it('a batch that fails without an error fails its tickets with "batch failed"', async () => {
    const b = createBatchedCalls<number>(() => Promise.reject(undefined));
    await expect(call(b, 1)).rejects.toThrow('batch failed');
  });

  it('a sender\'s turn holds until exactly lingerMs + callTimeoutMs after it began; a millisecond later a waiter sends', async () => {
    const time = fakeTime();
    const sent: number[][] = [];
    const b = createBatchedCalls<number>(async (items) => void sent.push(items), { lingerMs: 10, callTimeoutMs: 100, setTimer: time.setTimer, now: time.now });
    time.drop(); // the first sender's linger timer is lost
    b.submit(1);
    const waiting = call(b, 2, 1);
    // The waiter takes over a millisecond after 110 and lingers 10 ms itself: it sends at 121.
    await time.advance(120);
    expect(sent).toEqual([]);
    await time.advance(1);
    expect(sent).toEqual([[1, 2]]);
    await waiting;
  });

  it('a full batch leaves at once, without lingering for company', async () => {
    const time = fakeTime();
    const sent: number[][] = [];
    const b = createBatchedCalls<number>(async (items) => void sent.push(items), { maxBatch: 2, lingerMs: 10, callTimeoutMs: 100, setTimer: time.setTimer, now: time.now });
    time.drop(); // the first sender's linger timer is lost: two items wait, a full batch
    b.submit(1);
    const second = b.submit(2);
    await time.advance(111);
    const waiting = b.wait(second.ticket, 1); // the sender it finds gone, it sends the full batch itself
    await tick();
    expect(sent).toEqual([[1, 2]]);
    await waiting;
  });

  it('a ticket taken into a batch that never answers fails a millisecond after its deadline, not before', async () => {
    const time = fakeTime();
    const b = createBatchedCalls<number>(async () => new Promise<void>(() => undefined), { callTimeoutMs: 100, setTimer: time.setTimer, now: time.now });
    time.drop(); // the sender's call deadline is lost
    const { ticket } = b.submit(1);
    let outcome = 'pending';
    void b.wait(ticket, 1).then(() => (outcome = 'ok'), (e: Error) => (outcome = e.message));
    await time.advance(100);
    expect(outcome).toBe('pending');
    await time.advance(1);
    expect(outcome).toBe('no answer in 100 ms');
  });

  it('a sender given up on that comes back late does not end its successor\'s turn: still one batch at a time', async () => {
    const time = fakeTime();
    const answers: Array<() => void> = [];
    let inFlight = 0;
    let most = 0;
    const b = createBatchedCalls<number>(
      async () => {
        inFlight++;
        most = Math.max(most, inFlight);
        await new Promise<void>((r) => answers.push(r));
        inFlight--;
      },
      { callTimeoutMs: 100, setTimer: time.setTimer, now: time.now },
    );
    time.drop(); // the first sender's deadline timer is lost: it hangs
    void b.submit(1).sending;
    await tick();
    const second = b.submit(2); // queued behind the hung sender
    await time.advance(101); // its turn is over: the second item's owner sends
    void b.wait(second.ticket, 1).catch(() => undefined);
    await tick();
    expect(answers).toHaveLength(2);
    answers[0]!(); // the first sender comes back while the second's batch is in flight
    await tick();
    most = inFlight; // (the takeover itself ran beside the hung call, by design)
    expect(most).toBe(1);
    void b.submit(3).sending; // must queue, not send beside the second batch
    await tick();
    expect(most).toBe(1);
    answers[1]!();
    await time.advance(10);
    for (const a of answers.slice(2)) a();
    await time.advance(10);
  });

  it('with the default timers, a batch that answered leaves no timer behind', async () => {
    vi.useFakeTimers();
    const b = createBatchedCalls<number>(async () => undefined);
    const { ticket, sending } = b.submit(1);
    await sending;
    await b.wait(ticket, 1);
    expect(vi.getTimerCount()).toBe(0);
  });
});
