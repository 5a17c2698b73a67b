// parseTpm2bPublic and validateAttestationKey on keys a real (emulated) TPM just made: names and
// attributes compared with what `tpm2_readpublic` prints; keys that are not AKs refused by name.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasTpmTools, startSwtpm, type Swtpm } from '../../../test/support/swtpm.ts';
import { akNameHex, parseTpm2bPublic, TpmRejectedError, validateAttestationKey, type TpmPublic } from './index.ts';

describe.skipIf(!hasTpmTools)('TPM2B_PUBLIC from swtpm + tpm2-tools', () => {
  let tpm: Swtpm;
  let dir = '';
  const t = (cmd: string, ...args: string[]) => tpm.run(cmd, args);
  const flush = () => {
    t('tpm2_flushcontext', '-t');
    t('tpm2_flushcontext', '-s');
  };
  /** name, attributes and raw attributes from `tpm2_readpublic -c ctx` (YAML). */
  const readpublic = (ctx: string) => {
    const yaml = t('tpm2_readpublic', '-c', ctx);
    flush();
    const attrs = /^attributes:\n {2}value: (\S+)\n {2}raw: (0x[0-9a-f]+)$/m.exec(yaml)!;
    return { name: /^name: ([0-9a-f]+)$/m.exec(yaml)![1]!, attributes: attrs[1], raw: Number(attrs[2]) };
  };
  const parsed = (f: string) => parseTpm2bPublic(new Uint8Array(readFileSync(join(dir, f))));
  const toolsAttributes = (pub: TpmPublic) => pub.attributes.map((a) => a.toLowerCase()).join('|');
  /** A child of an owner primary with the given tpm2_create options, loaded to get its name. */
  const create = (name: string, ...opts: string[]) => {
    try {
      t('tpm2_create', '-C', 'primary.ctx', ...opts, '-u', `${name}.pub`, '-r', `${name}.priv`);
      flush();
      t('tpm2_load', '-C', 'primary.ctx', '-u', `${name}.pub`, '-r', `${name}.priv`, '-c', `${name}.ctx`);
    } finally {
      flush();
    }
    return { pub: parsed(`${name}.pub`), tools: readpublic(`${name}.ctx`) };
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'swtpm-public-'));
    tpm = await startSwtpm(dir);
    t('tpm2_createek', '-c', 'ek.ctx', '-G', 'rsa', '-u', 'ek.pub', '-f', 'tss');
    flush();
    for (const [n, alg, scheme] of [['akrsa', 'rsa', 'rsassa'], ['akecc', 'ecc', 'ecdsa']] as const) {
      t('tpm2_createak', '-C', 'ek.ctx', '-c', `${n}.ctx`, '-G', alg, '-g', 'sha256', '-s', scheme, '-u', `${n}.pub`, '-n', `${n}.name`);
      flush();
    }
    t('tpm2_createprimary', '-C', 'o', '-c', 'primary.ctx');
    flush();
  }, 60_000);
  afterAll(() => {
    tpm?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it.each(['akrsa', 'akecc'])('%s from tpm2_createak: name and attributes equal tpm2_readpublic’s; it is an acceptable AK', (n) => {
    const pub = parsed(`${n}.pub`);
    const tools = readpublic(`${n}.ctx`);
    expect(akNameHex(pub)).toBe(tools.name);
    expect(akNameHex(pub)).toBe(readFileSync(join(dir, `${n}.name`)).toString('hex'));
    expect(toolsAttributes(pub)).toBe(tools.attributes);
    expect(pub.objectAttributes).toBe(tools.raw);
    expect(() => validateAttestationKey(pub)).not.toThrow();
  });

  it('the EK from tpm2_createek parses (SHA-256, policy, AES-128) and is refused as an AK', () => {
    const pub = parsed('ek.pub');
    const tools = readpublic('ek.ctx');
    expect(akNameHex(pub)).toBe(tools.name);
    expect(toolsAttributes(pub)).toBe(tools.attributes);
    expect(pub.symmetric?.keyBits).toBe(128);
    expect(() => validateAttestationKey(pub)).toThrow(expect.objectContaining({ reason: 'AK is not acceptable: sign is clear' }));
  });

  it.each([
    ['a non-restricted signing key', 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign', 'rsa', 'AK is not acceptable: restricted is clear'],
    ['a decryption key', 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|decrypt', 'rsa', 'AK is not acceptable: restricted is clear'],
    // The TPM refuses fixedParent without fixedTPM under a fixedTPM parent (and the reverse), so
    // the key that can leave this TPM is fully duplicable.
    ['a duplicable restricted signing key', 'sensitivedataorigin|userwithauth|restricted|sign', 'ecc', 'AK is not acceptable: fixedTPM is clear'],
  ])('refuses %s made by tpm2_create', (_n, attributes, alg, reason) => {
    const { pub, tools } = create(`k${attributes.length}${alg}`, '-G', alg === 'rsa' ? 'rsa2048' : 'ecc256:ecdsa-sha256:null', '-a', attributes);
    expect(akNameHex(pub)).toBe(tools.name);
    expect(toolsAttributes(pub)).toBe(tools.attributes);
    let err: unknown;
    try {
      validateAttestationKey(pub);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TpmRejectedError);
    expect((err as TpmRejectedError).reason).toBe(reason);
  });

  it('a SHA-384 nameAlg key: the name is SHA-384 of the public area, as the TPM computes it', () => {
    const { pub, tools } = create('sha384', '-G', 'ecc384:ecdsa-sha384:null', '-g', 'sha384', '-a', 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign');
    expect(tools.name.startsWith('000c')).toBe(true);
    expect(akNameHex(pub)).toBe(tools.name);
    expect(() => validateAttestationKey(pub)).not.toThrow();
  });
});
