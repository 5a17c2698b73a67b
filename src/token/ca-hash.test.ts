import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import vectors from '../../test/vectors/ca-hash.json' with { type: 'json' };
import { caCertPin, caCertPins, hashClusterCA, TokenError } from './index.ts';

type CertName = keyof typeof vectors.certificates;
const bundle = (names: string[]) => names.map((n) => vectors.certificates[n as CertName]).join('');

describe('hashClusterCA vectors (k3s hashCA)', () => {
  it.each(vectors.caHash)('$name', async (v) => {
    expect(await hashClusterCA(bundle(v.bundle))).toBe(v.hash);
  });

  it('is not the plain file hash for a verified chain', async () => {
    expect(await hashClusterCA(bundle(['intermediate', 'root']))).not.toBe(vectors.bundleFileHashNotUsed);
  });

  it('accepts bytes as well as text, and hashes them exactly (CRLF kept)', async () => {
    const crlf = vectors.certificates.root.replace(/\n/g, '\r\n');
    const expected = createHash('sha256').update(crlf).digest('hex');
    expect(await hashClusterCA(new TextEncoder().encode(crlf))).toBe(expected);
  });

  it('keeps non-certificate blocks and comments in the single-cert hash', async () => {
    const text = `# cluster CA\n${vectors.certificates.root}-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n`;
    expect(await hashClusterCA(text)).toBe(createHash('sha256').update(text).digest('hex'));
  });

  it.each(vectors.errors)('rejects $input', async (v) => {
    await expect(hashClusterCA(v.input)).rejects.toThrow(new TokenError(v.message));
  });

  it.each([
    ['empty', ''],
    ['a key only', '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n'],
    ['a certificate block with headers', vectors.certificates.root.replace('-----\nMII', '-----\nProc-Type: 4,ENCRYPTED\n\nMII')],
  ])('finds no certificate in %s', async (_n, input) => {
    await expect(hashClusterCA(input)).rejects.toThrow('data does not contain any valid RSA or ECDSA certificates');
  });

  it('rejects a CERTIFICATE block that does not parse', async () => {
    await expect(hashClusterCA('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n')).rejects.toThrow(TokenError);
  });

  it('falls back to the raw bytes when the chain is not valid at `now`', async () => {
    const text = bundle(['intermediate', 'root']);
    const raw = createHash('sha256').update(text).digest('hex');
    expect(await hashClusterCA(text, { now: () => new Date('1999-12-31T00:00:00Z') })).toBe(raw);
  });
});

describe('hashClusterCA / caCertPin edges', () => {
  it('a chain that does not verify at `now` pins its first certificate', async () => {
    const text = bundle(['intermediate', 'root']);
    expect(await caCertPin(text, { now: () => new Date('1999-12-31T00:00:00Z') })).toBe(await caCertPin(vectors.certificates.intermediate));
    expect(await caCertPin(text, { now: () => new Date() })).toBe(await caCertPin(vectors.certificates.root));
  });
  it('pins accept bytes as well as text', async () => {
    const bytes = new TextEncoder().encode(vectors.certificates.kubeadmPinTest);
    expect(await caCertPin(bytes)).toBe(vectors.kubeadmPin.pin);
    expect(caCertPins(bytes)).toEqual([vectors.kubeadmPin.pin]);
  });
  it('a root listed first does not chain to itself: the raw bytes are hashed (k3s verifies certs[0] against the rest)', async () => {
    const text = bundle(['root', 'intermediate']);
    expect(await hashClusterCA(text)).toBe(createHash('sha256').update(text).digest('hex'));
  });
  it('a CA whose authority key id is present but empty counts as a root, as in k3s (len(AuthorityKeyId) == 0)', async () => {
    const der = new X509Certificate(vectors.certificates.akiEmptyRoot).raw;
    expect(await hashClusterCA(bundle(['akiEmptyLeaf', 'akiEmptyRoot']))).toBe(createHash('sha256').update(der).digest('hex'));
  });
  it('a CERTIFICATE block that does not parse is named in the message', async () => {
    await expect(hashClusterCA('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n')).rejects.toThrow(/^failed to parse CA certificate: /);
    expect(() => caCertPins('')).toThrow('data does not contain any valid RSA or ECDSA certificates');
  });
});

describe('caCertPin (kubeadm pubkeypin)', () => {
  it('matches the upstream pubkeypin test vector (SPKI, not the whole cert)', async () => {
    expect(await caCertPin(vectors.certificates.kubeadmPinTest)).toBe(vectors.kubeadmPin.pin);
    expect(caCertPins(vectors.certificates.kubeadmPinTest)).toEqual([vectors.kubeadmPin.pin]);
  });
  it('pins the root of a verified chain', async () => {
    expect(await caCertPin(bundle(['intermediate', 'root']))).toBe(await caCertPin(vectors.certificates.root));
    expect(caCertPins(bundle(['intermediate', 'root']))).toHaveLength(2);
  });
});

// Chains generated with the openssl CLI, so the oracle (openssl's fingerprint) is independent of us.
describe('hashClusterCA on generated chains', () => {
  let dir = '';
  const ossl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  const fingerprint = (file: string) => ossl('x509', '-in', file, '-noout', '-fingerprint', '-sha256').split('=')[1]!.trim().replace(/:/g, '').toLowerCase();
  const read = (f: string) => readFileSync(join(dir, f), 'utf8');

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'cahash-'));
    writeFileSync(join(dir, 'ca.ext'), 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n');
    writeFileSync(join(dir, 'noserver.ext'), 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\nextendedKeyUsage=clientAuth\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n');
    writeFileSync(join(dir, 'notca.ext'), 'basicConstraints=critical,CA:FALSE\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n');
    // RSA root (so both RSA and ECDSA signatures are exercised), EC intermediates.
    ossl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'root.key', '-out', 'root.pem', '-days', '3650', '-subj', '/CN=gen-root', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'subjectKeyIdentifier=hash');
    for (const [name, ext, days] of [['inter', 'ca.ext', '3650'], ['noserver', 'noserver.ext', '3650']] as const) {
      ossl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=gen-${name}`);
      ossl('x509', '-req', '-in', `${name}.csr`, '-CA', 'root.pem', '-CAkey', 'root.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', days, '-extfile', ext, '-sha384');
    }
    // A leaf under the intermediate, to make a three-certificate chain.
    ossl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'sub.key', '-out', 'sub.csr', '-subj', '/CN=gen-sub');
    ossl('x509', '-req', '-in', 'sub.csr', '-CA', 'inter.pem', '-CAkey', 'inter.key', '-CAcreateserial', '-out', 'sub.pem', '-days', '365', '-extfile', 'ca.ext', '-sha256');
    // Same name and key as `inter`, but CA:FALSE: Go refuses it as an intermediate.
    ossl('req', '-new', '-key', 'inter.key', '-out', 'internotca.csr', '-subj', '/CN=gen-inter');
    ossl('x509', '-req', '-in', 'internotca.csr', '-CA', 'root.pem', '-CAkey', 'root.key', '-CAcreateserial', '-out', 'internotca.pem', '-days', '3650', '-extfile', 'notca.ext', '-sha384');
    ossl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'other.key', '-out', 'other.pem', '-days', '3650', '-subj', '/CN=gen-root');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const rawHash = (text: string) => createHash('sha256').update(text).digest('hex');

  it('single generated root: sha256 of the file bytes', async () => {
    expect(await hashClusterCA(read('root.pem'))).toBe(rawHash(read('root.pem')));
  });
  it('intermediate + RSA root: openssl fingerprint of the root', async () => {
    expect(await hashClusterCA(read('inter.pem') + read('root.pem'))).toBe(fingerprint('root.pem'));
  });
  it('three certificates, leaf first: the root', async () => {
    expect(await hashClusterCA(read('sub.pem') + read('inter.pem') + read('root.pem'))).toBe(fingerprint('root.pem'));
  });
  it('root with the same name but another key: verify fails → raw bytes', async () => {
    const text = read('inter.pem') + read('other.pem');
    expect(await hashClusterCA(text)).toBe(rawHash(text));
  });
  it('first certificate whose EKU excludes serverAuth → raw bytes', async () => {
    const text = read('noserver.pem') + read('root.pem');
    expect(await hashClusterCA(text)).toBe(rawHash(text));
  });
  it('intermediate that is not a CA cannot sign the first certificate → raw bytes', async () => {
    // internotca has inter's name and key, so only the CA flag tells the two apart.
    const text = read('sub.pem') + read('internotca.pem') + read('root.pem');
    expect(await hashClusterCA(text)).toBe(rawHash(text));
    expect(await hashClusterCA(read('sub.pem') + read('inter.pem') + read('root.pem'))).toBe(fingerprint('root.pem'));
  });
});
