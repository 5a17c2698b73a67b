// Coalesces many small calls to one remote party into batched calls: a call made while a batch
// is in flight waits for the next one, so N concurrent callers cost about one round trip per
// batch instead of one each. With `lingerMs`, the first call of an idle batcher waits that long
// for company (or until `maxBatch` items are queued) before it leaves. Used for the fleet
// watcher's `expect` and for machine outboxes written to D1 (one each per enrollment): under a
// boot storm, hundreds of enrollments share a handful of calls. Runtime-agnostic.

export interface BatchedCalls<T> {
  /** Resolves when the batch holding `item` was accepted; rejects with that batch's error. */
  call(item: T): Promise<void>;
}

export interface BatchOptions {
  /** Items per call at most (default 100). */
  readonly maxBatch?: number;
  /** How long the first item of an idle batcher waits for others (default 0: a microtask). */
  readonly lingerMs?: number;
  readonly setTimer?: (fn: () => void, ms: number) => void;
}

/** `send` gets at most `maxBatch` items per call; the next batch leaves when the previous one settled. */
export function createBatchedCalls<T>(send: (items: T[]) => Promise<void>, options: BatchOptions = {}): BatchedCalls<T> {
  const maxBatch = Math.max(1, options.maxBatch ?? 100);
  const lingerMs = options.lingerMs ?? 0;
  const setTimer = options.setTimer ?? ((fn, ms) => void setTimeout(fn, ms));
  let queue: Array<{ item: T; settle: (err?: unknown) => void }> = [];
  let inFlight = false;
  let lingering = false;
  const pump = async (): Promise<void> => {
    if (inFlight || queue.length === 0) return;
    inFlight = true;
    const batch = queue.slice(0, maxBatch);
    queue = queue.slice(batch.length);
    try {
      await send(batch.map((b) => b.item));
      for (const b of batch) b.settle();
    } catch (err) {
      for (const b of batch) b.settle(err ?? new Error('batch failed'));
    } finally {
      inFlight = false;
      void pump(); // what queued meanwhile has waited a whole call: it leaves now
    }
  };
  const schedule = () => {
    if (inFlight) return; // pumped when the call in flight settles
    if (lingerMs <= 0 || queue.length >= maxBatch) {
      queueMicrotask(() => void pump()); // callers in the same turn share the batch
      return;
    }
    if (lingering) return;
    lingering = true;
    setTimer(() => {
      lingering = false;
      void pump();
    }, lingerMs);
  };
  return {
    call(item) {
      return new Promise<void>((resolve, reject) => {
        queue.push({ item, settle: (err) => (err === undefined ? resolve() : reject(err)) });
        schedule();
      });
    },
  };
}
