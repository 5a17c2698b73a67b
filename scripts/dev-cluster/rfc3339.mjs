// @ts-check
// Go's time.Parse(time.RFC3339, s) acceptance rules, returning nanoseconds since the epoch.
// It does not format times (clock.mjs does) and does not accept anything Go would reject.

const RFC3339_GO = /^(\d{4})-(\d{2})-(\d{2})T(\d{1,2}):(\d{2}):(\d{2})(?:[.,](\d+))?(Z|[+-]\d{2}:\d{2})$/;

/** @param {number} year @param {number} month 1-12 */
function daysIn(year, month) {
  return new Date(Date.UTC(2000, month, 0)).getUTCDate() === 29 && month === 2
    ? (year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28)
    : new Date(Date.UTC(2001, month, 0)).getUTCDate();
}

/**
 * Returns the instant in nanoseconds (BigInt, so sub-millisecond fractions still compare right
 * against the clock), or null where Go returns an error — which the bootstrap authenticator and
 * the token cleaner both treat as "already expired".
 * Go quirks kept on purpose: the hour may be one digit (layout "15" is not zero-padded), the
 * fraction may use a comma, offsets up to 24:60 pass, `T` and `Z` are case-sensitive.
 * @param {string} s
 * @returns {bigint | null}
 */
export function parseGoRFC3339(s) {
  const m = RFC3339_GO.exec(s);
  if (!m) return null;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number);
  if (month < 1 || month > 12) return null;
  if (day < 1 || day > daysIn(year, month)) return null;
  if (hour > 23 || minute > 59 || second > 59) return null;
  let offsetSeconds = 0;
  const zone = /** @type {string} */ (m[8]);
  if (zone !== 'Z') {
    const zh = Number(zone.slice(1, 3));
    const zm = Number(zone.slice(4, 6));
    if (zh > 24 || zm > 60) return null;
    offsetSeconds = (zone[0] === '-' ? -1 : 1) * (zh * 3600 + zm * 60);
  }
  // setUTCFullYear, because Date.UTC maps years 0-99 onto 1900-1999.
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  d.setUTCHours(hour, minute, second, 0);
  const frac = (m[7] ?? '').slice(0, 9).padEnd(9, '0');
  return BigInt(d.getTime() - offsetSeconds * 1000) * 1_000_000n + BigInt(frac || '0');
}
