// The device-certificate method bounds its base64 inputs before decoding them: an oversized
// certificate or signature is invalid_request with its own message, however valid its base64.
import { describe, expect, it } from 'vitest';
import { createMemoryChallengeStore } from '../store/memory.ts';
import { createX509Verifier, verifyDeviceCertificate } from './x509.ts';

const NO_TRUST = { roots: [], intermediates: [] };
const refusal = async (p: Promise<unknown>) => (await p.then(() => null, (e: unknown) => e)) as { code: string; message: string } | null;

describe('x509 input bounds', () => {
  it('a certificate over 8192 base64 characters is refused as malformed, not decoded', async () => {
    const err = await refusal(verifyDeviceCertificate({ certificate: 'A'.repeat(8196) }, NO_TRUST, new Date()));
    expect(err).toMatchObject({ code: 'invalid_request', message: 'certificate must be the base64 DER of the device certificate' });
    // At the bound it is decoded, and refused further on (no roots configured).
    expect(await refusal(verifyDeviceCertificate({ certificate: 'A'.repeat(8192) }, NO_TRUST, new Date()))).toMatchObject({ code: 'attestation_rejected' });
  });

  it('a signature over 1024 base64 characters is refused before the certificate is looked at', async () => {
    const verifier = createX509Verifier(NO_TRUST, createMemoryChallengeStore());
    const challengeId = crypto.randomUUID();
    expect(await refusal(verifier.verify({ method: 'x509', challengeId, signature: 'A'.repeat(1028) }, new Date()))).toMatchObject({ code: 'invalid_request', message: 'signature must be base64' });
    expect(await refusal(verifier.verify({ method: 'x509', challengeId, signature: 'A'.repeat(1024) }, new Date()))).toMatchObject({ code: 'invalid_request', message: 'certificate must be the base64 DER of the device certificate' });
  });
});
