// Property: the TPM structure parsers, on arbitrary bytes and on mutations of real swtpm structures
// (test/vectors/tpm-swtpm.json, tpm-public.json), either parse or throw TpmRejectedError
// (attestation_rejected) — never a RangeError, TypeError or anything else. Parsing a valid
// structure is stable: what it yields names the same key (computeTpmName) every time.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import swtpm from '../../../test/vectors/tpm-swtpm.json' with { type: 'json' };
import pub from '../../../test/vectors/tpm-public.json' with { type: 'json' };
import { fcParams } from '../../../test/support/property.ts';
import { computeTpmName, parseEkPublicKey, parseQuote, parseTpm2bPublic, parseTpmtPublic, TpmRejectedError, validateAttestationKey } from './index.ts';

const VALID = [Buffer.from(swtpm.akPublicBase64, 'base64'), Buffer.from(pub.eccAk.tpm2bPublicHex, 'hex'), Buffer.from(pub.eccP384Ek.tpm2bPublicHex, 'hex'), Buffer.from(pub.nonRestrictedSigningKey.tpm2bPublicHex, 'hex')].map((b) => new Uint8Array(b));

/** A valid structure with random byte edits, truncations, insertions, or a rewritten size prefix. */
const mutated = (bases: Uint8Array[]) =>
  fc
    .record({
      base: fc.constantFrom(...bases),
      edits: fc.array(fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }), { maxLength: 4 }),
      cut: fc.option(fc.nat(), { nil: null }),
      insert: fc.option(fc.record({ at: fc.nat(), bytes: fc.uint8Array({ maxLength: 8 }) }), { nil: null }),
      size: fc.option(fc.integer({ min: 0, max: 0xffff }), { nil: null }),
    })
    .map(({ base, edits, cut, insert, size }) => {
      let b = Uint8Array.from(base);
      for (const e of edits) if (b.length > 0) b[e.at % b.length] = e.byte;
      if (insert) {
        const at = insert.at % (b.length + 1);
        b = Uint8Array.from([...b.subarray(0, at), ...insert.bytes, ...b.subarray(at)]);
      }
      if (cut !== null) b = b.subarray(0, cut % (b.length + 1));
      if (size !== null && b.length >= 2) {
        b[0] = size >> 8;
        b[1] = size & 0xff;
      }
      return b;
    });

const bytes = fc.oneof(fc.uint8Array({ maxLength: 600 }), mutated(VALID));

function onlyTyped(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof TpmRejectedError)) throw err;
    expect(err.code).toBe('attestation_rejected');
  }
}

describe('TPM parsers (property)', () => {
  it('parseTpm2bPublic: parses or throws TpmRejectedError; a parsed key names itself the same way twice', () => {
    fc.assert(
      fc.property(bytes, (b) => {
        onlyTyped(() => {
          const p = parseTpm2bPublic(b);
          expect(computeTpmName(p)).toEqual(computeTpmName(parseTpm2bPublic(b)));
          validateAttestationKey(p);
        });
      }),
      fcParams(1000),
    );
  });

  it('parseTpmtPublic: parses or throws TpmRejectedError', () => {
    fc.assert(fc.property(bytes.map((b) => b.subarray(2)), (b) => onlyTyped(() => parseTpmtPublic(b))), fcParams(1000));
  });

  it('parseQuote: parses or throws TpmRejectedError', () => {
    // A well-formed header so that runs get past the magic and into the variable-length fields.
    const header = Uint8Array.from([0xff, 0x54, 0x43, 0x47, 0x80, 0x18]);
    const quoteish = fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ maxLength: 300 }).map((t) => Uint8Array.from([...header, ...t])));
    fc.assert(fc.property(quoteish, (b) => onlyTyped(() => parseQuote(b))), fcParams(1000));
  });

  it('parseEkPublicKey: parses or rejects with the typed error', async () => {
    await fc.assert(
      fc.asyncProperty(bytes, async (b) => {
        try {
          await parseEkPublicKey(b);
        } catch (err) {
          expect(err).toBeInstanceOf(TpmRejectedError);
        }
      }),
      fcParams(300),
    );
  });
});
