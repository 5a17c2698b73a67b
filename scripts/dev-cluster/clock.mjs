// @ts-check
// The cluster's clock: real time plus a test-controlled offset, and the timestamp formats the
// API server writes. It never sleeps or schedules anything.

/** @typedef {{ nowMs(): number, nowNs(): bigint, offsetSeconds: number }} Clock */

/** @returns {Clock} */
export function createClock() {
  return {
    offsetSeconds: 0,
    nowMs() {
      return Date.now() + this.offsetSeconds * 1000;
    },
    nowNs() {
      return BigInt(this.nowMs()) * 1_000_000n;
    },
  };
}

/** metav1.Time marshals as RFC3339 with second precision in UTC. @param {number} ms */
export function formatRFC3339Seconds(ms) {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
