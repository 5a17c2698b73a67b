// Coalesces many small calls to one remote party into batched calls: a call made while a batch
// is in flight waits for the next one, so N concurrent callers cost about one round trip per
// batch instead of one each. With `lingerMs`, the caller that finds the batcher idle waits that
// long for company (or until `maxBatch` items are queued) before it sends. Used for the fleet
// watcher's `expect` and for machine outboxes written to D1 (one each per enrollment): under a
// boot storm, hundreds of enrollments share a handful of calls. Runtime-agnostic.
//
// Built for Workers' rules: every batch is sent from the context of a caller still waiting for it
// (never from a caller that has its answer and may be gone), and a batch that does not settle in
// `callTimeoutMs` is given up (its callers get the error), so one lost call never wedges the rest.

export interface BatchedCalls<T> {
  /** Resolves when the batch holding `item` was accepted; rejects with that batch's error. */
  call(item: T): Promise<void>;
}

export interface BatchOptions {
  /** Items per call at most (default 100). */
  readonly maxBatch?: number;
  /** How long the caller that finds the batcher idle waits for others (default 0). */
  readonly lingerMs?: number;
  /** A batch not settled in this time is given up with an error (default 10 s). */
  readonly callTimeoutMs?: number;
  /** Runs `fn` after `ms`; returns a cancel function (injected by tests). */
  readonly setTimer?: (fn: () => void, ms: number) => () => void;
  readonly now?: () => number;
}

interface Entry<T> {
  readonly item: T;
  settled: boolean;
  error: unknown;
  readonly done: Promise<void>;
  readonly settle: (error?: unknown) => void;
}

export function createBatchedCalls<T>(send: (items: T[]) => Promise<void>, options: BatchOptions = {}): BatchedCalls<T> {
  const maxBatch = Math.max(1, options.maxBatch ?? 100);
  const lingerMs = options.lingerMs ?? 0;
  const callTimeoutMs = options.callTimeoutMs ?? 10_000;
  const setTimer =
    options.setTimer ??
    ((fn: () => void, ms: number) => {
      const t = setTimeout(fn, ms);
      return () => clearTimeout(t);
    });
  const now = options.now ?? (() => Date.now());
  /** A wait of `ms` that can be called off (no timer left behind once the race is decided). */
  const wait = (ms: number) => {
    let cancel = () => {};
    const promise = new Promise<void>((r) => (cancel = setTimer(r, ms)));
    return { promise, cancel };
  };
  let queue: Entry<T>[] = [];
  /** A caller is lingering or sending until then (ms); after it, a waiter takes over. 0: idle. */
  let busyUntil = 0;
  let turn = 0;
  let turnEnded = deferred();
  let watchdog: { turn: number; fired: boolean; promise: Promise<void>; cancel: () => void } | null = null;

  async function lead(own: Entry<T>): Promise<void> {
    const mine = ++turn;
    busyUntil = now() + lingerMs + callTimeoutMs;
    try {
      if (lingerMs > 0 && queue.length < maxBatch) {
        const linger = wait(lingerMs);
        await Promise.race([linger.promise, own.done]); // own.done: a waiter that took over sent it
        linger.cancel();
        if (turn !== mine) return;
      }
      const batch = queue.slice(0, maxBatch);
      queue = queue.slice(batch.length);
      if (batch.length === 0) return;
      const deadline = wait(callTimeoutMs);
      try {
        const call = send(batch.map((e) => e.item));
        call.catch(() => undefined); // if the deadline wins, a late failure is not an unhandled rejection
        const timedOut = await Promise.race([call.then(() => false), deadline.promise.then(() => true)]);
        if (timedOut) throw new Error(`no answer in ${callTimeoutMs} ms`);
        for (const e of batch) e.settle();
      } catch (err) {
        for (const e of batch) e.settle(err ?? new Error('batch failed'));
      } finally {
        deadline.cancel();
      }
    } finally {
      // A leader that was given up on (and a waiter took over) does not end the new leader's turn.
      if (turn === mine) {
        busyUntil = 0;
        if (watchdog?.turn === mine) watchdog.cancel();
        watchdog = null;
        const t = turnEnded;
        turnEnded = deferred();
        t.resolve();
      }
    }
  }

  return {
    async call(item) {
      const entry = newEntry(item);
      queue.push(entry);
      while (!entry.settled) {
        if (busyUntil === 0 || now() > busyUntil || watchdog?.fired === true) {
          await lead(entry);
          continue;
        }
        // Another caller leads: wait for this item's batch, or for that turn to end (this caller
        // may then lead the next), and no longer than the leader's deadline (one timer per turn,
        // shared by its waiters).
        if (watchdog?.turn !== turn) {
          const w = { turn, fired: false, ...wait(Math.max(1, busyUntil - now() + 1)) };
          void w.promise.then(() => (w.fired = true));
          watchdog = w;
        }
        await Promise.race([entry.done, turnEnded.promise, watchdog.promise]);
      }
      if (entry.error !== undefined) throw entry.error;
    },
  };
}

function newEntry<T>(item: T): Entry<T> {
  let resolve!: () => void;
  const done = new Promise<void>((r) => (resolve = r));
  const e: Entry<T> = {
    item,
    settled: false,
    error: undefined,
    done,
    settle: (error?: unknown) => {
      if (e.settled) return;
      e.settled = true;
      e.error = error;
      resolve();
    },
  };
  return e;
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
