// Property: every parser of untrusted token input (bootstrap tokens, K10 join tokens, Go
// durations, RFC 3339 times, CA bundles) returns a value or throws its typed error (TokenError),
// never anything else, on arbitrary input; and each round-trips what its formatter writes.
// Fixed seed and run count (test/support/property.ts); FC_RUNS=<n> for a longer run.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import vectors from '../../test/vectors/ca-hash.json' with { type: 'json' };
import { fcParams } from '../../test/support/property.ts';
import {
  formatDuration,
  formatExpiration,
  formatJoinTokenWithHash,
  parseBootstrapToken,
  parseBundleCertificates,
  parseDuration,
  parseJoinToken,
  parseRfc3339,
  TOKEN_ALPHABET,
  TokenError,
} from './index.ts';

/** Runs `f`; a TokenError is an allowed outcome, anything else thrown fails the property. */
function onlyTokenError(f: () => unknown): void {
  try {
    f();
  } catch (err) {
    if (!(err instanceof TokenError)) throw err;
    expect(err.code).toBe('invalid_token');
  }
}

const alnum = (n: number) => fc.string({ unit: fc.constantFrom(...TOKEN_ALPHABET), minLength: n, maxLength: n });
const bootstrap = fc.tuple(alnum(6), alnum(16)).map(([id, secret]) => ({ id, secret, token: `${id}.${secret}` }));
const hex64 = fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 64, maxLength: 64 });
/** Near-misses: valid shapes with one character inserted, replaced or cut. */
function mutate(s: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc.tuple(s, fc.nat(), fc.string({ unit: 'binary', maxLength: 2 }), fc.constantFrom('insert', 'replace', 'cut')).map(([v, at, ch, how]) => {
    const i = at % (v.length + 1);
    return how === 'insert' ? v.slice(0, i) + ch + v.slice(i) : how === 'replace' ? v.slice(0, i) + ch + v.slice(i + 1) : v.slice(0, i);
  });
}
const hostile = fc.oneof(fc.anything(), fc.string({ unit: 'binary', maxLength: 200 }), fc.string({ unit: fc.constantFrom('K', '1', '0', ':', '.', 'a', 'z', '9', '-', '+', 'h', 'm', 's', 'µ', 'T', 'Z', '\n', '%'), maxLength: 120 }));

describe('src/token parsers (property)', () => {
  it('parseBootstrapToken: a token or TokenError; round-trips every valid token', () => {
    fc.assert(fc.property(fc.oneof(hostile, mutate(bootstrap.map((b) => b.token))), (input) => onlyTokenError(() => parseBootstrapToken(input))), fcParams());
    fc.assert(fc.property(bootstrap, (b) => {
      expect(parseBootstrapToken(b.token)).toEqual(b);
    }), fcParams());
  });

  it('parseJoinToken: a join token or TokenError; round-trips K10<hash>::<id>.<secret> and ::<user>:<password>', () => {
    const k10 = fc.tuple(hex64, bootstrap).map(([h, b]) => formatJoinTokenWithHash(h, b.token));
    fc.assert(fc.property(fc.oneof(hostile, mutate(k10)), (input) => onlyTokenError(() => parseJoinToken(input))), fcParams());
    fc.assert(
      fc.property(hex64, bootstrap, (hash, b) => {
        expect(parseJoinToken(formatJoinTokenWithHash(hash, b.token))).toEqual({ caHash: hash, username: '', password: '', bootstrap: { id: b.id, secret: b.secret } });
      }),
      fcParams(),
    );
    const user = fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-_'), minLength: 1, maxLength: 20 });
    const password = fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-_:.'), minLength: 1, maxLength: 40 });
    fc.assert(
      fc.property(hex64, user, password, (hash, u, p) => {
        const t = parseJoinToken(formatJoinTokenWithHash(hash, `${u}:${p}`));
        expect([t.caHash, t.username, t.password, t.bootstrap]).toEqual([hash, u, p, null]);
      }),
      fcParams(),
    );
  });

  it('parseDuration: milliseconds or TokenError; round-trips formatDuration for whole seconds', () => {
    const goish = fc.array(fc.tuple(fc.nat({ max: 100_000 }), fc.constantFrom('ns', 'us', 'µs', 'ms', 's', 'm', 'h', '', 'd', 'x')).map(([n, u]) => `${n}${u}`), { maxLength: 4 }).map((p) => p.join(''));
    fc.assert(fc.property(fc.oneof(hostile, goish, mutate(goish)), (input) => onlyTokenError(() => {
      const ms = parseDuration(input);
      expect(Number.isFinite(ms)).toBe(true);
    })), fcParams());
    fc.assert(fc.property(fc.integer({ min: -10_000_000, max: 10_000_000 }), (seconds) => {
      expect(parseDuration(formatDuration(seconds * 1000))).toBe(seconds * 1000);
    }), fcParams());
  });

  it('parseRfc3339: unix ms or null, never a throw; round-trips formatExpiration', () => {
    const rfcish = fc.date({ min: new Date('0001-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true }).map((d) => d.toISOString());
    fc.assert(fc.property(fc.oneof(hostile, mutate(rfcish)), (input) => {
      const t = parseRfc3339(input);
      expect(t === null || Number.isFinite(t)).toBe(true);
    }), fcParams());
    fc.assert(
      fc.property(fc.integer({ min: Date.parse('1970-01-01T00:00:00Z') / 1000, max: Date.parse('9999-12-31T23:59:59Z') / 1000 }), (s) => {
        expect(parseRfc3339(formatExpiration(new Date(s * 1000)))).toBe(s * 1000);
      }),
      fcParams(),
    );
  });

  it('parseBundleCertificates: certificates or TokenError on arbitrary and mutated PEM', () => {
    const pem = fc.constantFrom(vectors.certificates.root, vectors.certificates.intermediate, vectors.certificates.root + vectors.certificates.intermediate);
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 300 }), mutate(pem), fc.uint8Array({ maxLength: 300 })), (input) =>
        onlyTokenError(() => {
          const certs = parseBundleCertificates(typeof input === 'string' ? new TextEncoder().encode(input) : Uint8Array.from(input));
          expect(certs.length).toBeGreaterThan(0);
        }),
      ),
      fcParams(100),
    );
  });
});
