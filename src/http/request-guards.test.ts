// boundedBody's drain of a refused chunked upload is bounded in bytes and in time (review #11).
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { AppError } from '../errors.ts';
import { boundedBody, DRAIN_MAX_BYTES } from './request-guards.ts';

function appWith(limits?: Parameters<typeof boundedBody>[1]) {
  const app = new Hono();
  app.use('*', boundedBody(1024, limits));
  app.post('/', async (c) => c.text(String((await c.req.arrayBuffer()).byteLength)));
  app.onError((err, c) => (err instanceof AppError ? c.json({ code: err.code }, 413) : c.text('bad', 500)));
  return app;
}
const post = (app: Hono, body: ReadableStream<Uint8Array>) => app.request('/', { method: 'POST', body, duplex: 'half' } as RequestInit);

describe('boundedBody', () => {
  it('passes a chunked body within the limit through whole', async () => {
    let n = 0;
    const stream = new ReadableStream<Uint8Array>({ pull: (c) => (n++ < 4 ? c.enqueue(new Uint8Array(256)) : c.close()) });
    const res = await post(appWith(), stream);
    expect(await res.text()).toBe('1024');
  });

  it('an endless chunked body over the limit is drained at most DRAIN_MAX_BYTES past it, then cancelled', async () => {
    let pulled = 0;
    let cancelled = false;
    const chunk = new Uint8Array(16 * 1024);
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        pulled += chunk.byteLength;
        c.enqueue(chunk);
      },
      cancel() {
        cancelled = true;
      },
    });
    const res = await post(appWith(), stream);
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({ code: 'payload_too_large' });
    expect(cancelled).toBe(true);
    // The queue may hold a chunk or two read ahead of the reader.
    expect(pulled).toBeLessThanOrEqual(1024 + DRAIN_MAX_BYTES + 4 * chunk.byteLength);
  });

  it('a body that stops sending after the limit is cancelled after drainMaxMs, not waited on forever', async () => {
    let sent = 0;
    let cancelled = false;
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent > 2048) return new Promise<void>(() => {}); // stalls: never enqueues again
        sent += 1024;
        c.enqueue(new Uint8Array(1024));
      },
      cancel() {
        cancelled = true;
      },
    });
    const res = await post(appWith({ drainMaxMs: 50 }), stream);
    expect(res.status).toBe(413);
    expect(cancelled).toBe(true);
  });

  it('a small over-limit chunked body is still read to its end (the connection stays reusable)', async () => {
    let pulled = 0;
    let finished = false;
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        if (pulled++ < 8) c.enqueue(new Uint8Array(1024));
        else {
          finished = true;
          c.close();
        }
      },
    });
    const res = await post(appWith(), stream);
    expect(res.status).toBe(413);
    expect(finished).toBe(true);
  });
});
