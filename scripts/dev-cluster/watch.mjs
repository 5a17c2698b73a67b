// @ts-check
// The watch cache: a bounded history of events with the resourceVersion each happened at, and the
// open watchers. A watch from a resourceVersion older than the history answers the API server's
// `410 Expired` ("too old resource version: <rv> (<oldest-1>)"), as an ERROR event on a 200 stream
// like the cacher does; `compact()` drops the history (etcd compaction) for tests.

/**
 * @typedef {{ rv: number, resource: string, type: 'ADDED' | 'MODIFIED' | 'DELETED', object: any, prev?: any }} WatchEvent
 * @typedef {{ resource: string, send(e: WatchEvent): void }} Watcher
 */

/** @param {{ currentRv: () => number, max?: number }} o */
export function createWatchHub({ currentRv, max = 1000 }) {
  /** @type {WatchEvent[]} */
  let history = [];
  let floor = currentRv();
  /** @type {Set<Watcher>} */
  const watchers = new Set();
  return {
    /** @param {WatchEvent} e */
    emit(e) {
      history.push(e);
      if (history.length > max) floor = /** @type {WatchEvent} */ (history.shift()).rv;
      for (const w of watchers) if (w.resource === e.resource) w.send(e);
    },
    /**
     * Events of `resource` after `rv`, or null when they are no longer all retained.
     * @param {string} resource @param {number} rv
     */
    since(resource, rv) {
      if (rv < floor) return null;
      return history.filter((e) => e.resource === resource && e.rv > rv);
    },
    get floor() {
      return floor;
    },
    /** @param {Watcher} w */
    add(w) {
      watchers.add(w);
      return () => watchers.delete(w);
    },
    compact() {
      history = [];
      floor = currentRv();
    },
  };
}
