// The per-address limit on the enrollment endpoints counts what an attacker does — failed proofs,
// unknown machines, malformed requests — not successful enrollments, so a site of 1,000 honest
// machines behind one NAT address is never slowed while an address sending bad proofs is. An
// address over the limit is kept in an isolate-local penalty box, so the success path costs no
// round trip at all. The counter behind it is any RateLimiter (the Workers rate-limiting binding,
// a Durable Object, Deno KV, memory).
import type { ErrorCode } from '../errors.ts';
import type { RateLimiter } from './ports.ts';

/** Rejections that count against the client address. */
const COUNTED: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['invalid_request', 'invalid_token', 'attestation_rejected', 'machine_unknown', 'machine_revoked', 'code_used', 'payload_too_large', 'unsupported_media_type']);
/** Addresses held in the penalty box at most (the oldest leaves first). */
export const PENALTY_BOX_MAX_KEYS = 10_000;

export interface FailureLimiter {
  /** Seconds to wait if `key` is in the penalty box, else null. Local, synchronous. */
  blocked(key: string, now: number): number | null;
  /** Counts a rejection with `code` (if it is one an attacker causes); true if `key` is now over the limit. */
  fail(key: string, code: ErrorCode, now: number): Promise<{ limited: boolean; retryAfterSeconds: number }>;
}

export function createFailureLimiter(counter: RateLimiter): FailureLimiter {
  const box = new Map<string, number>();
  return {
    blocked(key, now) {
      const until = box.get(key);
      if (until === undefined) return null;
      if (until <= now) {
        box.delete(key);
        return null;
      }
      return Math.max(1, Math.ceil((until - now) / 1000));
    },
    async fail(key, code, now) {
      if (!COUNTED.has(code)) return { limited: false, retryAfterSeconds: 0 };
      const r = await counter.hit(key, now).catch(() => ({ allowed: true, retryAfterSeconds: 0 }));
      if (r.allowed) return { limited: false, retryAfterSeconds: 0 };
      if (box.size >= PENALTY_BOX_MAX_KEYS) box.delete(box.keys().next().value!);
      box.set(key, now + r.retryAfterSeconds * 1000);
      return { limited: true, retryAfterSeconds: r.retryAfterSeconds };
    },
  };
}

const limiters = new WeakMap<RateLimiter, FailureLimiter>();

/** One failure limiter (one penalty box) per counter, for the life of the isolate. */
export function failureLimiterFor(counter: RateLimiter): FailureLimiter {
  let l = limiters.get(counter);
  if (!l) limiters.set(counter, (l = createFailureLimiter(counter)));
  return l;
}

/** The Workers rate-limiting binding as a RateLimiter (its window is the binding's period). */
export function bindingRateLimiter(binding: { limit(options: { key: string }): Promise<{ success: boolean }> }, periodSeconds: number): RateLimiter {
  return {
    async hit(key) {
      const { success } = await binding.limit({ key });
      return { allowed: success, retryAfterSeconds: periodSeconds };
    },
  };
}
