// Server CPU per TPM enrollment (challenge: EK chain + AK checks + MakeCredential; enroll: the
// activated credential's hash) against its bare crypto measured beside it: RSA-OAEP encrypt,
// KDFa ×2, AES-128-CFB, HMAC, and the two chain signature verifications. Node's V8 + WebCrypto;
// workerd runs the same code on the same engine.
import { cfb } from '@noble/ciphers/aes.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import vectors from '../test/vectors/tpm-swtpm.json' with { type: 'json' };
import { computeTpmName, ekFromSpki, kdfa, makeCredential, parseEkRoots, parseTpm2bPublic, TPM_ALG, validateAttestationKey, verifyEkCertificate } from '../src/attest/tpm/index.ts';
import { parseCertificate, verifyCertificateSignature } from '../src/pki/index.ts';
import { measure, report } from './measure.ts';

const der = new Uint8Array(Buffer.from(vectors.ekCertDerBase64, 'base64'));
const akBytes = new Uint8Array(Buffer.from(vectors.akPublicBase64, 'base64'));
const trust = parseEkRoots(vectors.ekRootsPem);
const now = new Date();
const ekCert = parseCertificate(der);
const ek = await ekFromSpki(ekCert.spki);
const oaepKey = await crypto.subtle.importKey('jwk', ek.jwk, { name: 'RSA-OAEP', hash: 'SHA-256' }, false, ['encrypt']);
const label = new TextEncoder().encode('IDENTITY\0');
const akName = computeTpmName(parseTpm2bPublic(akBytes));
const [inter, root] = [trust.intermediates[0]!, trust.roots[0]!];

async function tpmEnrollmentServerWork() {
  const verified = await verifyEkCertificate(der, trust, now);
  const ak = parseTpm2bPublic(akBytes);
  validateAttestationKey(ak);
  const credential = crypto.getRandomValues(new Uint8Array(32));
  await makeCredential({ ek: await ekFromSpki(verified.spki), akName: computeTpmName(ak), credential });
  sha256(credential); // the stored hash, and again at /v1/enroll
  sha256(credential);
}
async function bareCrypto() {
  await verifyCertificateSignature(ekCert, inter);
  await verifyCertificateSignature(inter, root);
  const seed = crypto.getRandomValues(new Uint8Array(32));
  await crypto.subtle.encrypt({ name: 'RSA-OAEP', label }, oaepKey, seed);
  const sym = kdfa(TPM_ALG.SHA256, seed, 'STORAGE', akName, new Uint8Array(0), 128);
  const enc = cfb(sym, new Uint8Array(16)).encrypt(new Uint8Array(34));
  hmac(sha256, kdfa(TPM_ALG.SHA256, seed, 'INTEGRITY', new Uint8Array(0), new Uint8Array(0), 256), enc);
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}
async function cpuPerOp(fn: () => Promise<void>, n: number): Promise<number> {
  for (let i = 0; i < 20; i++) await fn();
  const c0 = cpuMs();
  for (let i = 0; i < n; i++) await fn();
  return (cpuMs() - c0) / n;
}

const [work, bare] = [await measure('TPM challenge + verify (server side)', tpmEnrollmentServerWork, 1500), await measure('bare crypto (2 sig verifies, OAEP, KDFa×2, CFB, HMAC)', bareCrypto, 1500)];
report('TPM enrollment, server side (Node, single thread)', [[work, bare]]);
const cw = await cpuPerOp(tpmEnrollmentServerWork, 200);
const cb = await cpuPerOp(bareCrypto, 200);
console.log(`CPU per TPM enrollment: ${cw.toFixed(2)} ms (bare crypto ${cb.toFixed(2)} ms, ratio ${(cw / cb).toFixed(2)}x; target < 10 ms)`);
