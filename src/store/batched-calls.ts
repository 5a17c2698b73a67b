// Coalesces many small calls to one remote party into batched calls: items submitted while a
// batch is being sent go in the next one (sent as soon as that one settles), so N concurrent
// submitters cost about one round trip per batch instead of one each. Used for machine outboxes written to D1 (one per enrollment): under a
// boot storm, hundreds of enrollments share a handful of D1 batches. Runtime-agnostic.
//
// Built for Workers' rules, where one Durable Object may not settle a promise another one awaits
// ("Cannot perform I/O on behalf of a different Durable Object"): a ticket is plain flags, never a
// promise; every batch is sent in a submitter's context (the one that found the batcher idle, the
// previous sender continuing, or a waiter that finds its item still queued and nobody sending), and waiters poll their
// ticket with timers of their own. A batch not settled in `callTimeoutMs` is given up, and a sender
// that never comes back is taken over after its deadline, so one lost call never wedges the rest.

export interface Ticket {
  readonly settled: boolean;
  /** The batch's error, if it failed (undefined when it succeeded). */
  readonly error: unknown;
}

export interface BatchedCalls<T> {
  /**
   * Queues `item`. If nobody is sending, this caller sends a batch now (lingering first for
   * company): `sending` is that work, to be awaited (or kept alive with waitUntil) by the caller.
   */
  submit(item: T): { ticket: Ticket; sending: Promise<void> | null };
  /** Resolves once the ticket is settled, rejects with its batch's error; polls every `pollMs`. */
  wait(ticket: Ticket, pollMs: number): Promise<void>;
}

export interface BatchOptions {
  /** Items per batch at most (default 100). */
  readonly maxBatch?: number;
  /** How long a sender waits for company before it sends (default 0). */
  readonly lingerMs?: number;
  /** A batch not settled in this time is given up with an error (default 10 s). */
  readonly callTimeoutMs?: number;
  /** Runs `fn` after `ms`; returns a cancel function (injected by tests). */
  readonly setTimer?: (fn: () => void, ms: number) => () => void;
  readonly now?: () => number;
}

interface Entry<T> {
  readonly item: T;
  taken: boolean;
  settled: boolean;
  error: unknown;
  /** When the batch holding it is given up (set when taken). */
  deadline: number;
}

/**
 * `send` writes a batch; it may answer one error (or undefined) per item, so one bad item need not
 * fail the others. A batch that throws fails all its items.
 */
export function createBatchedCalls<T>(send: (items: T[]) => Promise<void | readonly unknown[]>, options: BatchOptions = {}): BatchedCalls<T> {
  const maxBatch = Math.max(1, options.maxBatch ?? 100);
  const lingerMs = options.lingerMs ?? 0;
  const callTimeoutMs = options.callTimeoutMs ?? 10_000;
  const setTimer =
    options.setTimer ??
    ((fn: () => void, ms: number) => {
      const t = setTimeout(fn, ms);
      return () => clearTimeout(t);
    });
  const sleep = (ms: number) => new Promise<void>((r) => void setTimer(r, ms));
  const now = options.now ?? (() => Date.now());
  let queue: Entry<T>[] = [];
  /** Someone is lingering or sending until then (ms); after it, another submitter may send. 0: idle. */
  let busyUntil = 0;
  let turn = 0;

  const idle = () => busyUntil === 0 || now() > busyUntil;

  async function sendOne(linger = true): Promise<void> {
    const mine = ++turn;
    busyUntil = now() + lingerMs + callTimeoutMs;
    try {
      if (linger && lingerMs > 0 && queue.length < maxBatch) await sleep(lingerMs);
      const batch = queue.slice(0, maxBatch);
      queue = queue.slice(batch.length);
      if (batch.length === 0) return;
      const deadline = now() + callTimeoutMs;
      for (const e of batch) {
        e.taken = true;
        e.deadline = deadline;
      }
      let cancel = () => {};
      try {
        const call = send(batch.map((e) => e.item));
        call.catch(() => undefined); // if the deadline wins, a late failure is not an unhandled rejection
        const results = await Promise.race([call, new Promise<never>((_, reject) => (cancel = setTimer(() => reject(new Error(`no answer in ${callTimeoutMs} ms`)), callTimeoutMs)))]);
        batch.forEach((e, i) => settle(e, Array.isArray(results) ? results[i] : undefined));
      } catch (err) {
        for (const e of batch) settle(e, err ?? new Error('batch failed'));
      } finally {
        cancel();
      }
    } finally {
      if (turn === mine) {
        busyUntil = 0; // a sender given up on does not end its successor's turn
        // What queued meanwhile leaves now (its owners would otherwise find it only when they poll).
        if (queue.length > 0) void sendOne(false); // it has waited a whole batch already
      }
    }
  }

  return {
    submit(item) {
      const entry: Entry<T> = { item, taken: false, settled: false, error: undefined, deadline: 0 };
      queue.push(entry);
      return { ticket: entry, sending: idle() ? sendOne() : null };
    },
    async wait(ticket, pollMs) {
      const entry = ticket as Entry<T>;
      while (!entry.settled) {
        if (entry.taken && now() > entry.deadline) settle(entry, new Error(`no answer in ${callTimeoutMs} ms`));
        else if (!entry.taken && idle()) await sendOne();
        else await sleep(pollMs);
      }
      if (entry.error !== undefined) throw entry.error;
    },
  };
}

function settle(e: { settled: boolean; error: unknown }, error: unknown): void {
  if (e.settled) return;
  e.settled = true;
  e.error = error;
}
