// An identity-provider stand-in for JWT enrollment tests: real RSA and EC key pairs (jose), the
// public set handed to the service as an inline JWKS, the private keys handed to the tests so
// they sign real tokens. A third, unpublished key signs forgeries.
import { exportJWK, generateKeyPair } from 'jose';

export async function startTestIssuer() {
  const rsa = await generateKeyPair('RS256', { extractable: true });
  const ec = await generateKeyPair('ES256', { extractable: true });
  const rogue = await generateKeyPair('RS256', { extractable: true });
  const pub = async (k: CryptoKey, kid: string, alg: string) => ({ ...(await exportJWK(k)), kid, alg, use: 'sig' });
  const jwks = { keys: [await pub(rsa.publicKey, 'rsa-1', 'RS256'), await pub(ec.publicKey, 'ec-1', 'ES256')] };
  const privateKeys = {
    rsa: { ...(await exportJWK(rsa.privateKey)), kid: 'rsa-1', alg: 'RS256' },
    ec: { ...(await exportJWK(ec.privateKey)), kid: 'ec-1', alg: 'ES256' },
    // Same kid as the real RSA key, not published: a forgery.
    rogue: { ...(await exportJWK(rogue.privateKey)), kid: 'rsa-1', alg: 'RS256' },
  };
  return {
    issuer: 'https://idp.k3s-enroll.test',
    url: 'https://idp.k3s-enroll.test',
    jwks,
    privateKeys,
    async close() {},
  };
}
