// Property: the PEM/DER parsers on arbitrary input and on mutations of a real certificate
// (the swtpm EK certificate and its CA chain, test/vectors/tpm-swtpm.json): PEM scanning and
// base64 never throw; certificate parsing yields a certificate or CertificateParseError; the
// PEM and base64 encoders round-trip through their parsers.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import swtpm from '../../test/vectors/tpm-swtpm.json' with { type: 'json' };
import { fcParams } from '../../test/support/property.ts';
import { CertificateParseError, decodeBase64, encodeBase64, encodePem, parseCertificate, parsePemBlocks } from './index.ts';

const CERTS = [new Uint8Array(Buffer.from(swtpm.ekCertDerBase64, 'base64')), ...parsePemBlocks(swtpm.ekRootsPem).map((b) => b.der)];

const mutatedDer = fc
  .record({
    base: fc.constantFrom(...CERTS),
    edits: fc.array(fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }), { maxLength: 4 }),
    cut: fc.option(fc.nat(), { nil: null }),
  })
  .map(({ base, edits, cut }) => {
    const b = Uint8Array.from(base);
    for (const e of edits) b[e.at % b.length] = e.byte;
    return cut === null ? b : b.slice(0, cut % (b.length + 1));
  });

const pemType = fc.stringMatching(/^[A-Z][A-Z ]{0,20}[A-Z]$/);

describe('PEM / DER parsers (property)', () => {
  it('parseCertificate: a certificate or CertificateParseError, never another error', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 400 }).map((b) => Uint8Array.from(b)), mutatedDer), (der) => {
        try {
          const c = parseCertificate(der as Uint8Array<ArrayBuffer>);
          expect(c.spki.length).toBeGreaterThan(0);
        } catch (err) {
          expect(err).toBeInstanceOf(CertificateParseError);
        }
      }),
      fcParams(1000),
    );
  });

  it('parsePemBlocks never throws on arbitrary text, PEM-looking text included', () => {
    const pemish = fc.tuple(pemType, fc.string({ maxLength: 200 }), fc.string({ maxLength: 20 })).map(([t, body, tail]) => `-----BEGIN ${t}-----\n${body}\n-----END ${t}-----${tail}`);
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 400 }), pemish), (text) => {
        for (const b of parsePemBlocks(text)) expect(b.der).toBeInstanceOf(Uint8Array);
      }),
      fcParams(1000),
    );
  });

  it('encodePem → parsePemBlocks round-trips the type and the bytes', () => {
    fc.assert(
      fc.property(pemType, fc.uint8Array({ minLength: 1, maxLength: 300 }), (type, der) => {
        const blocks = parsePemBlocks(encodePem(type, der));
        expect(blocks).toHaveLength(1);
        expect(blocks[0]!.type).toBe(type);
        expect([...blocks[0]!.der]).toEqual([...der]);
      }),
      fcParams(500),
    );
  });

  it('decodeBase64 never throws (bytes or null) and round-trips encodeBase64', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), fc.uint8Array({ maxLength: 300 }), (text, bytes) => {
        const d = decodeBase64(text);
        expect(d === null || d instanceof Uint8Array).toBe(true);
        expect([...decodeBase64(encodeBase64(bytes))!]).toEqual([...bytes]);
      }),
      fcParams(1000),
    );
  });
});
