// @ts-check
// The dev cluster's own CA and serving certificate, made once per state dir with the openssl CLI:
// like k3s, one self-signed EC P-256 CA `CN=k3s-server-ca@<unix>` in a single-certificate PEM
// (so the K10 hash is the SHA-256 of those bytes) and a serving cert for localhost/127.0.0.1.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** @param {string} dir @returns {{ caFile: string, caPem: string, cert: string, key: string }} */
export function ensureTls(dir) {
  const tls = join(dir, 'tls');
  mkdirSync(tls, { recursive: true, mode: 0o700 });
  const caFile = join(tls, 'server-ca.crt');
  const caKey = join(tls, 'server-ca.key');
  const crt = join(tls, 'serving-kube-apiserver.crt');
  const key = join(tls, 'serving-kube-apiserver.key');
  if (!existsSync(caFile) || !existsSync(crt)) {
    /** @param {string[]} args */
    const ossl = (...args) => execFileSync('openssl', args, { cwd: tls, stdio: ['ignore', 'pipe', 'pipe'] });
    const now = Math.floor(Date.now() / 1000);
    ossl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', caKey);
    ossl('req', '-x509', '-new', '-key', caKey, '-out', caFile, '-days', '3650', '-subj', `/CN=k3s-server-ca@${now}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign', '-addext', 'subjectKeyIdentifier=hash');
    ossl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key);
    ossl('req', '-new', '-key', key, '-out', 'serving.csr', '-subj', '/CN=kube-apiserver');
    writeFileSync(join(tls, 'serving.ext'), 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,IP:127.0.0.1\n');
    ossl('x509', '-req', '-in', 'serving.csr', '-CA', caFile, '-CAkey', caKey, '-CAcreateserial', '-out', crt, '-days', '3650', '-extfile', 'serving.ext', '-sha256');
  }
  return { caFile, caPem: readFileSync(caFile, 'utf8'), cert: readFileSync(crt, 'utf8'), key: readFileSync(key, 'utf8') };
}
