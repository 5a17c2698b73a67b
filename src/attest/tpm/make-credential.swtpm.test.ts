// Our MakeCredential activated by a real (emulated) TPM: swtpm as in TOOLCHAIN.md §7, EK and AK
// from tpm2-tools, AK name from our parser, `tpm2_activatecredential -i` reading our tpm2ToolsFile.
// RSA and P-256 EKs from tpm2_createek; the P-384 EK is swtpm's own (0x81010016, SHA-384, AES-256).
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasTpmTools, startSwtpm, type Swtpm } from '../../../test/support/swtpm.ts';
import { akNameHex, makeCredential, parseTpm2bPublic, validateAttestationKey, TPM_ALG, type TpmPublic } from './index.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const unhex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));

/** How tpm2_activatecredential authorizes the EK: PolicySecret(endorsement) for the L templates, a password for swtpm's P-384 EK (userWithAuth). */
interface Ek { readonly handle: string; readonly policy: boolean; readonly pub: string; readonly pem: string }

describe.skipIf(!hasTpmTools)('activated by a real TPM (swtpm)', () => {
  let tpm: Swtpm;
  let dir = '';
  const file = (f: string) => new Uint8Array(readFileSync(join(dir, f)));
  const t = (cmd: string, ...args: string[]) => tpm.run(cmd, args);
  const flush = () => {
    t('tpm2_flushcontext', '-t');
    t('tpm2_flushcontext', '-s');
  };
  const EK: Record<'rsa' | 'p256' | 'p384', Ek> = {
    rsa: { handle: 'ekrsa.ctx', policy: true, pub: 'ekrsa.pub', pem: 'ekrsa.pem' },
    p256: { handle: 'ekecc.ctx', policy: true, pub: 'ekecc.pub', pem: 'ekecc.pem' },
    p384: { handle: '0x81010016', policy: false, pub: 'ek384.pub', pem: 'ek384.pem' },
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'swtpm-mkcred-'));
    tpm = await startSwtpm(dir);
    for (const [alg, ek] of [['rsa', EK.rsa], ['ecc', EK.p256]] as const) {
      t('tpm2_createek', '-c', ek.handle, '-G', alg, '-u', ek.pub, '-f', 'tss');
      flush();
      t('tpm2_readpublic', '-c', ek.handle, '-f', 'pem', '-o', ek.pem);
      flush();
    }
    t('tpm2_readpublic', '-c', EK.p384.handle, '-f', 'tss', '-o', EK.p384.pub);
    // The P-384 EK as a verifier sees it: the key in its EK certificate (NV 0x1c00016).
    t('tpm2_nvread', '0x1c00016', '-C', 'o', '-o', 'ek384-cert.der');
    writeFileSync(join(dir, EK.p384.pem), new X509Certificate(readFileSync(join(dir, 'ek384-cert.der'))).publicKey.export({ type: 'spki', format: 'pem' }));
    t('tpm2_createak', '-C', EK.rsa.handle, '-c', 'ak.ctx', '-G', 'rsa', '-g', 'sha256', '-s', 'rsassa', '-u', 'ak.pub', '-n', 'ak.name');
    flush();
    t('tpm2_createak', '-C', EK.rsa.handle, '-c', 'akecc.ctx', '-G', 'ecc', '-g', 'sha256', '-s', 'ecdsa', '-u', 'akecc.pub', '-n', 'akecc.name');
    flush();
  }, 60_000);
  afterAll(() => {
    tpm?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Writes the file, runs tpm2_activatecredential; the recovered credential, or the tool's error. */
  function activate(ek: Ek, akCtx: string, toolsFile: Uint8Array): { recovered: string } | { error: string } {
    writeFileSync(join(dir, 'cred.blob'), toolsFile);
    rmSync(join(dir, 'recovered.bin'), { force: true });
    try {
      const auth: string[] = [];
      if (ek.policy) {
        t('tpm2_startauthsession', '--policy-session', '-S', 'session.ctx');
        t('tpm2_policysecret', '-S', 'session.ctx', '-c', 'e');
        auth.push('-P', 'session:session.ctx');
      }
      t('tpm2_activatecredential', '-c', akCtx, '-C', ek.handle, '-i', 'cred.blob', '-o', 'recovered.bin', ...auth);
      return { recovered: hex(file('recovered.bin')) };
    } catch (err) {
      return { error: String((err as { stderr?: Buffer }).stderr ?? err) };
    } finally {
      if (ek.policy) t('tpm2_flushcontext', 'session.ctx');
      flush();
    }
  }

  const ak = (name: 'ak' | 'akecc'): TpmPublic => {
    const pub = parseTpm2bPublic(file(`${name}.pub`));
    validateAttestationKey(pub);
    expect(akNameHex(pub)).toBe(hex(file(`${name}.name`)));
    return pub;
  };
  const credential = () => crypto.getRandomValues(new Uint8Array(32));

  it.each([
    ['RSA-2048 EK', 'SPKI PEM', 'rsa'],
    ['RSA-2048 EK', 'TPM2B_PUBLIC', 'rsa'],
    ['ECC P-256 EK', 'SPKI PEM', 'p256'],
    ['ECC P-256 EK', 'TPM2B_PUBLIC', 'p256'],
    ['ECC P-384 EK (SHA-384, AES-256)', 'EK certificate SPKI', 'p384'],
    ['ECC P-384 EK (SHA-384, AES-256)', 'TPM2B_PUBLIC', 'p384'],
  ] as const)('%s from its %s: the TPM recovers the credential', async (_n, form, which) => {
    const ek = EK[which];
    const ekPublicKey = form !== 'TPM2B_PUBLIC' ? readFileSync(join(dir, ek.pem), 'utf8') : parseTpm2bPublic(file(ek.pub));
    if (which === 'p384' && typeof ekPublicKey !== 'string') expect(ekPublicKey.nameAlg).toBe(TPM_ALG.SHA384);
    const secret = credential();
    const made = await makeCredential({ ekPublicKey, akName: unhex(akNameHex(ak('ak'))), credential: secret });
    expect(activate(ek, 'ak.ctx', made.tpm2ToolsFile)).toEqual({ recovered: hex(secret) });
  }, 30_000);

  it('an ECC (ECDSA) AK works as well', async () => {
    const secret = credential();
    const made = await makeCredential({ ekPublicKey: parseTpm2bPublic(file(EK.rsa.pub)), akName: unhex(akNameHex(ak('akecc'))), credential: secret });
    expect(activate(EK.rsa, 'akecc.ctx', made.tpm2ToolsFile)).toEqual({ recovered: hex(secret) });
  }, 30_000);

  it.each(['rsa', 'p384'] as const)('%s EK: a credential made for another AK name fails activation (integrity check)', async (which) => {
    const made = await makeCredential({ ekPublicKey: parseTpm2bPublic(file(EK[which].pub)), akName: unhex(akNameHex(ak('akecc'))), credential: credential() });
    const out = activate(EK[which], 'ak.ctx', made.tpm2ToolsFile);
    expect(out).toHaveProperty('error');
    expect((out as { error: string }).error).toMatch(/integrity check failed/);
  }, 30_000);

  // The file: magic+version (8), ID object size (2), HMAC TPM2B (2+32), encrypted credential, secret.
  // The seed is tampered with on the P-384 EK (its point then leaves the curve): a bad RSA-OAEP
  // ciphertext puts swtpm 0.7.1 into failure mode (TPM_RC_FAILURE) for the rest of its life.
  it.each([
    ['the outer HMAC', 'rsa', 12, /parameter\(1\):integrity check failed/],
    ['the encrypted credential', 'rsa', 8 + 2 + 34 + 3, /parameter\(1\):integrity check failed/],
    ['the encrypted secret (the ephemeral point)', 'p384', -20, /parameter\(2\):point is not on the required curve/],
  ] as const)('a flipped bit in %s fails activation', async (_n, which, at, error) => {
    const secret = credential();
    const made = await makeCredential({ ekPublicKey: parseTpm2bPublic(file(EK[which].pub)), akName: unhex(akNameHex(ak('ak'))), credential: secret });
    const f = made.tpm2ToolsFile.slice();
    const i = at < 0 ? f.length + at : at;
    f[i] = f[i]! ^ 0x01;
    const out = activate(EK[which], 'ak.ctx', f);
    expect(out).toHaveProperty('error');
    expect((out as { error: string }).error).toMatch(error);
    // The untouched file still activates: the failure is the flipped bit.
    expect(activate(EK[which], 'ak.ctx', made.tpm2ToolsFile)).toEqual({ recovered: hex(secret) });
  }, 30_000);
});
