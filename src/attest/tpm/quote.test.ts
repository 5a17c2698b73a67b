// TPM2_Quote verification against quotes made by a real (emulated) TPM with tpm2_quote; the
// golden PCR digest comes from tpm2_pcrread, not from our parser.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasTpmTools, startSwtpm, type Swtpm } from '../../../test/support/swtpm.ts';
import { createMemoryChallengeStore } from '../../store/memory.ts';
import { computeTpmName, createTpmVerifier, parseTpm2bPublic, quoteNonceHex, verifyQuote } from './index.ts';

const CHALLENGE = '123e4567-e89b-42d3-a456-426614174000';
let tpm: Swtpm;
let dir = '';
let golden = '';
const file = (f: string) => new Uint8Array(readFileSync(join(dir, f)));

describe.skipIf(!hasTpmTools)('verifyQuote with swtpm quotes', () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'quote-'));
    tpm = await startSwtpm(dir);
    const t = (cmd: string, ...args: string[]) => tpm.run(cmd, args);
    t('tpm2_pcrextend', '7:sha256=' + 'ab'.repeat(32));
    t('tpm2_createek', '-c', 'ek.ctx', '-G', 'rsa', '-u', 'ek.pub', '-f', 'tss');
    t('tpm2_flushcontext', '-t');
    for (const n of ['1', '2']) {
      t('tpm2_createak', '-C', 'ek.ctx', '-c', `ak${n}.ctx`, '-G', 'rsa', '-g', 'sha256', '-s', 'rsassa', '-u', `ak${n}.pub`, '-n', `ak${n}.name`);
      t('tpm2_flushcontext', '-t');
      t('tpm2_flushcontext', '-s');
    }
    for (const [name, ak, nonce] of [['good', '1', quoteNonceHex(CHALLENGE)], ['stale', '1', 'ff'.repeat(32)], ['other', '2', quoteNonceHex(CHALLENGE)]] as const) {
      t('tpm2_quote', '-c', `ak${ak}.ctx`, '-l', 'sha256:0,1,2,3,7', '-q', nonce, '-m', `${name}.msg`, '-s', `${name}.sig`, '-o', `${name}.pcrs`, '-g', 'sha256');
      t('tpm2_flushcontext', '-t');
    }
    t('tpm2_quote', '-c', 'ak1.ctx', '-l', 'sha256:0,1,2', '-q', quoteNonceHex(CHALLENGE), '-m', 'fewer.msg', '-s', 'fewer.sig', '-g', 'sha256');
    t('tpm2_flushcontext', '-t');
    t('tpm2_pcrread', 'sha256:0,1,2,3,7', '-o', 'pcrs.bin');
    golden = createHash('sha256').update(readFileSync(join(dir, 'pcrs.bin'))).digest('hex');
  }, 60_000);
  afterAll(() => {
    tpm?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const policy = () => ({ pcrs: [0, 1, 2, 3, 7], allowedDigests: [golden] });
  const ak1 = () => parseTpm2bPublic(file('ak1.pub'));
  const nonce = () => Uint8Array.from(Buffer.from(quoteNonceHex(CHALLENGE), 'hex'));
  const reason = async (p: Promise<unknown>) => ((await p.catch((e) => e)) as { code: string; reason: string });

  it('accepts a fresh quote by the AK over the allowed PCR state', async () => {
    const q = await verifyQuote(ak1(), file('good.msg'), file('good.sig'), nonce(), policy());
    expect(Buffer.from(q.pcrDigest).toString('hex')).toBe(golden);
  });
  it('refuses a quote over another nonce', async () => {
    expect((await reason(verifyQuote(ak1(), file('stale.msg'), file('stale.sig'), nonce(), policy()))).reason).toMatch(/nonce mismatch/);
  });
  it('refuses a PCR state outside the allow-list', async () => {
    expect((await reason(verifyQuote(ak1(), file('good.msg'), file('good.sig'), nonce(), { pcrs: [0, 1, 2, 3, 7], allowedDigests: ['0'.repeat(64)] }))).reason).toMatch(/is not allowed/);
  });
  it('refuses a quote over fewer PCRs than the policy', async () => {
    expect((await reason(verifyQuote(ak1(), file('fewer.msg'), file('fewer.sig'), nonce(), policy()))).reason).toMatch(/PCR selection/);
  });
  it('refuses a quote signed by another AK, and a tampered message', async () => {
    expect((await reason(verifyQuote(ak1(), file('other.msg'), file('other.sig'), nonce(), policy()))).reason).toMatch(/signature does not verify/);
    const msg = file('good.msg');
    msg[msg.length - 1] = msg[msg.length - 1]! ^ 1;
    expect((await reason(verifyQuote(ak1(), msg, file('good.sig'), nonce(), policy()))).code).toBe('attestation_rejected');
  });
  it('the tpm verifier binds the quote to the challenged AK name', async () => {
    const challenges = createMemoryChallengeStore();
    await challenges.put({ id: CHALLENGE, machineId: 'edge-q', kind: 'tpm', secretSha256: 'f'.repeat(64), ekSha256: 'e'.repeat(64), issuedAt: 0, expiresAt: 1 });
    const v = createTpmVerifier(challenges, policy());
    const b64 = (f: string) => readFileSync(join(dir, f)).toString('base64');
    const body = { method: 'tpm', challengeId: CHALLENGE, secret: Buffer.alloc(32, 1).toString('base64'), akPublic: b64('ak1.pub'), quote: { message: b64('good.msg'), signature: b64('good.sig') } };
    const ev = await v.verify(body, new Date());
    expect(ev.proof).toMatchObject({ method: 'tpm', quotedAkName: Buffer.from(computeTpmName(ak1())).toString('hex') });
    expect(ev.machineId).toBe('edge-q');
    await expect(v.verify({ ...body, quote: undefined }, new Date())).rejects.toMatchObject({ code: 'attestation_rejected' });
  });
});
