// Go time.ParseDuration, as `k3s token create --ttl` reads it (`24h`, `1h30m`, `0`, `-5m`,
// `1.5h`, `300ms`). Returns milliseconds; what a negative or zero TTL means is the caller's policy.
import { TokenError } from './token-error.ts';

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3,
  'μs': 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};
const MAX_DURATION_MS = 9_223_372_036_854.775; // Go's int64 nanoseconds limit, in ms.
const MAX_INPUT_LENGTH = 64;

export function parseDuration(input: unknown): number {
  if (typeof input !== 'string') throw new TokenError('duration must be a string');
  const original = input;
  // "" (like a bare sign) is refused below, with this same message.
  if (input.length > MAX_INPUT_LENGTH) throw new TokenError(`time: invalid duration "${safe(original)}"`);
  let s = input;
  let sign = 1;
  if (s[0] === '-' || s[0] === '+') {
    if (s[0] === '-') sign = -1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') throw new TokenError(`time: invalid duration "${safe(original)}"`);
  let total = 0;
  // Go: a number (digits, optional fraction) then a unit running up to the next digit or '.'.
  const part = /^([0-9]*)(?:\.([0-9]*))?([^0-9.]*)/;
  while (s.length > 0) {
    const m = part.exec(s)!;
    if (m[1] === '' && (m[2] === undefined || m[2] === '')) throw new TokenError(`time: invalid duration "${safe(original)}"`);
    const unit = m[3]!;
    if (unit === '') throw new TokenError(`time: missing unit in duration "${safe(original)}"`);
    const scale = UNIT_MS[unit];
    if (scale === undefined) throw new TokenError(`time: unknown unit "${safe(unit)}" in duration "${safe(original)}"`);
    total += Number(`${m[1] || '0'}.${m[2] || '0'}`) * scale;
    s = s.slice(m[0].length);
  }
  if (total > MAX_DURATION_MS) throw new TokenError(`time: invalid duration "${safe(original)}"`);
  return sign * total;
}

/** Formats milliseconds the way Go's Duration.String does for whole seconds (`24h0m0s`, `10m0s`). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  const sign = ms < 0 ? '-' : '';
  let s = Math.floor(Math.abs(ms) / 1000);
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (h > 0) return `${sign}${h}h${m}m${s}s`;
  if (m > 0) return `${sign}${m}m${s}s`;
  return `${sign}${s}s`;
}

function safe(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '?').slice(0, MAX_INPUT_LENGTH);
}
