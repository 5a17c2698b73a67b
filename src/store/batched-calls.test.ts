import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createBatchedCalls } from './batched-calls.ts';

const tick = () => new Promise((r) => setTimeout(r, 0));

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
    expect(sent).toEqual([[1, 2, 3]]);
    const second = [b.call(4), b.call(5)];
    await tick();
    expect(sent).toHaveLength(1); // the first batch is still in flight
    release();
    await Promise.all(first);
    await tick();
    expect(sent).toEqual([[1, 2, 3], [4, 5]]);
    release();
    await Promise.all(second);
  });

  it('a failed batch rejects exactly its own callers; the next batch still goes', async () => {
    let fail = true;
    const b = createBatchedCalls<string>(async () => {
      if (fail) {
        fail = false;
        throw new Error('watcher down');
      }
    });
    const a = b.call('a');
    await expect(a).rejects.toThrow('watcher down');
    await expect(b.call('b')).resolves.toBeUndefined();
  });

  it('lingerMs: the first call waits for company; a full batch leaves at once', async () => {
    const sent: number[][] = [];
    const timers: Array<() => void> = [];
    const b = createBatchedCalls<number>(async (items) => void sent.push(items), { maxBatch: 3, lingerMs: 25, setTimer: (fn) => void timers.push(fn) });
    const a = [b.call(1), b.call(2)];
    await tick();
    expect(sent).toEqual([]); // lingering
    expect(timers).toHaveLength(1); // one timer, not one per call
    timers[0]!();
    await Promise.all(a);
    expect(sent).toEqual([[1, 2]]);
    const full = [b.call(3), b.call(4), b.call(5)];
    await Promise.all(full); // the third call filled the batch: no timer needed
    expect(sent).toEqual([[1, 2], [3, 4, 5]]);
  });

  it('never sends more than maxBatch items, and every item exactly once, in order', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 7 }), fc.constantFrom(0, 1, 3), fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 40 }), async (maxBatch, linger, gaps) => {
        const sent: number[][] = [];
        const b = createBatchedCalls<number>(async (items) => {
          sent.push(items);
          await tick();
        }, { maxBatch, lingerMs: linger });
        const calls: Promise<void>[] = [];
        for (let i = 0; i < gaps.length; i++) {
          calls.push(b.call(i));
          for (let g = 0; g < gaps[i]!; g++) await tick();
        }
        await Promise.all(calls);
        expect(sent.every((s) => s.length >= 1 && s.length <= maxBatch)).toBe(true);
        expect(sent.flat()).toEqual(gaps.map((_, i) => i));
      }),
      { numRuns: 60 },
    );
  });
});
