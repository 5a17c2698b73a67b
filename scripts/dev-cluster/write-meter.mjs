// @ts-check
// Counts the Secret writes (create, delete) the dev cluster receives in each wall-clock second, so
// the boot-storm benchmark can show the most writes the cluster saw in any one second.
// `GET /__dev/writes` answers the counts; `DELETE /__dev/writes` starts over.

const SECRET_PATH = /^\/api\/v1\/namespaces\/[^/]+\/secrets(?:\/[^/]+)?$/;
const KEEP_SECONDS = 3600;

export function createWriteMeter() {
  /** @type {Map<number, { creates: number, deletes: number }>} */
  let seconds = new Map();
  return {
    /** @param {string} method @param {string} path @param {number} [nowMs] */
    record(method, path, nowMs = Date.now()) {
      if ((method !== 'POST' && method !== 'DELETE') || !SECRET_PATH.test(path)) return;
      const s = Math.floor(nowMs / 1000);
      const c = seconds.get(s) ?? { creates: 0, deletes: 0 };
      if (method === 'POST') c.creates++;
      else c.deletes++;
      seconds.set(s, c);
      if (seconds.size > KEEP_SECONDS) seconds.delete(/** @type {number} */ (seconds.keys().next().value));
    },
    snapshot() {
      const perSecond = [...seconds.entries()].map(([second, c]) => ({ second, ...c, writes: c.creates + c.deletes }));
      return {
        perSecond,
        maxWritesInASecond: perSecond.reduce((m, s) => Math.max(m, s.writes), 0),
        creates: perSecond.reduce((n, s) => n + s.creates, 0),
        deletes: perSecond.reduce((n, s) => n + s.deletes, 0),
      };
    },
    reset() {
      seconds = new Map();
    },
  };
}
