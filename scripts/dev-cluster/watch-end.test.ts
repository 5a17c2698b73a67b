// A watch stream never writes after its end: with bookmarks on, a bookmark timer that fires after
// the timeout ended the response (before its 'finish' event ran the cleanup) used to write after
// end and crash the dev cluster (ERR_STREAM_WRITE_AFTER_END under a boot-storm benchmark's load).
import { afterEach, describe, expect, it, vi } from 'vitest';
// @ts-expect-error: plain JavaScript module with JSDoc types
import { createObjectsApi, NODES } from './objects.mjs';

afterEach(() => vi.useRealTimers());

describe('watch stream end', () => {
  it('no bookmark is written once the timeout has ended the response', () => {
    vi.useFakeTimers();
    const store = { state: { objects: {}, rv: 7 }, save() {} };
    const hub = { add: () => () => {}, since: () => [], floor: 0 };
    const api = createObjectsApi({ store, clock: {}, hub, kind: NODES, bookmarkIntervalMs: 1000 } as never);
    const written: string[] = [];
    // Like http.ServerResponse: 'finish' (which stops the timers) comes later than end() itself.
    const res = {
      writableEnded: false,
      destroyed: false,
      writeHead() {},
      flushHeaders() {},
      on() {},
      write(chunk: string) {
        if (this.writableEnded) throw new Error('write after end');
        written.push(chunk);
        return true;
      },
      end() {
        this.writableEnded = true;
      },
    };
    api.watch('', new URLSearchParams('watch=1&allowWatchBookmarks=true&timeoutSeconds=1'), res as never, () => {});
    expect(() => vi.advanceTimersByTime(2500)).not.toThrow();
    expect(res.writableEnded).toBe(true);
    expect(written.filter((w) => w.includes('BOOKMARK'))).toHaveLength(1); // the one due before the end
  });
});
