// @ts-check
// The dev cluster's CAs and certificates, made once per state dir with the openssl CLI, like k3s:
// a self-signed EC P-256 server CA `CN=k3s-server-ca@<unix>` in a single-certificate PEM (so the
// K10 hash is the SHA-256 of those bytes), a client CA `CN=k3s-client-ca@<unix>` beside it, a
// serving cert for localhost/127.0.0.1 and an admin client cert (system:admin, O=system:masters)
// as k3s.yaml carries. signCsr signs the join routes' CSRs with either CA.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** @param {string} cwd */
const osslIn = (cwd) => /** @param {string[]} args */ (...args) => execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });

/** @param {string} dir @returns {{ caFile: string, caPem: string, caKeyFile: string, clientCaFile: string, clientCaPem: string, clientCaKeyFile: string, cert: string, key: string, adminCert: string, adminKey: string }} */
export function ensureTls(dir) {
  const tls = join(dir, 'tls');
  mkdirSync(tls, { recursive: true, mode: 0o700 });
  const ossl = osslIn(tls);
  const caFile = join(tls, 'server-ca.crt');
  const caKey = join(tls, 'server-ca.key');
  const clientCaFile = join(tls, 'client-ca.crt');
  const clientCaKey = join(tls, 'client-ca.key');
  const crt = join(tls, 'serving-kube-apiserver.crt');
  const key = join(tls, 'serving-kube-apiserver.key');
  const adminCrt = join(tls, 'client-admin.crt');
  const adminKey = join(tls, 'client-admin.key');
  const now = Math.floor(Date.now() / 1000);
  /** @param {string} file @param {string} keyFile @param {string} cn */
  const makeCa = (file, keyFile, cn) => {
    ossl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyFile);
    ossl('req', '-x509', '-new', '-key', keyFile, '-out', file, '-days', '3650', '-subj', `/CN=${cn}@${now}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign', '-addext', 'subjectKeyIdentifier=hash');
  };
  if (!existsSync(caFile) || !existsSync(crt)) {
    makeCa(caFile, caKey, 'k3s-server-ca');
    ossl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key);
    ossl('req', '-new', '-key', key, '-out', 'serving.csr', '-subj', '/CN=kube-apiserver');
    writeFileSync(join(tls, 'serving.ext'), 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,IP:127.0.0.1\n');
    ossl('x509', '-req', '-in', 'serving.csr', '-CA', caFile, '-CAkey', caKey, '-CAcreateserial', '-out', crt, '-days', '3650', '-extfile', 'serving.ext', '-sha256');
  }
  // A state dir from before the client CA gets one on its next start; the server CA is kept.
  if (!existsSync(clientCaFile) || !existsSync(clientCaKey)) makeCa(clientCaFile, clientCaKey, 'k3s-client-ca');
  if (!existsSync(adminCrt) || !existsSync(adminKey)) {
    ossl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', adminKey);
    ossl('req', '-new', '-key', adminKey, '-out', 'admin.csr', '-subj', '/O=system:masters/CN=system:admin');
    writeFileSync(join(tls, 'client.ext'), 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n');
    ossl('x509', '-req', '-in', 'admin.csr', '-CA', clientCaFile, '-CAkey', clientCaKey, '-CAcreateserial', '-out', adminCrt, '-days', '3650', '-extfile', 'client.ext', '-sha256');
  }
  return {
    caFile, caPem: readFileSync(caFile, 'utf8'), caKeyFile: caKey,
    clientCaFile, clientCaPem: readFileSync(clientCaFile, 'utf8'), clientCaKeyFile: clientCaKey,
    cert: readFileSync(crt, 'utf8'), key: readFileSync(key, 'utf8'),
    adminCert: readFileSync(adminCrt, 'utf8'), adminKey: readFileSync(adminKey, 'utf8'),
  };
}

/**
 * Signs a DER PKCS#10 CSR as k3s's supervisor does: the subject is the server's choice, not the
 * CSR's (the CSR only carries the public key, whose self-signature openssl checks).
 * @param {{ csrDer: Buffer, caFile: string, caKeyFile: string, cn: string, o?: string, usage: 'serverAuth' | 'clientAuth', dns?: string[], ips?: string[], days?: number }} o
 * @returns {string} the leaf PEM
 */
export function signCsr({ csrDer, caFile, caKeyFile, cn, o, usage, dns = [], ips = [], days = 365 }) {
  const work = mkdtempSync(join(caFile, '..', 'sign-'));
  try {
    const ossl = osslIn(work);
    writeFileSync(join(work, 'req.der'), csrDer);
    ossl('req', '-inform', 'DER', '-in', 'req.der', '-verify', '-noout');
    const san = [...dns.map((d) => `DNS:${d}`), ...ips.map((i) => `IP:${i}`)];
    writeFileSync(join(work, 'leaf.ext'), `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=${usage}\n${san.length ? `subjectAltName=${san.join(',')}\n` : ''}`);
    const subj = `${o ? `/O=${o}` : ''}/CN=${cn}`;
    ossl('req', '-inform', 'DER', '-in', 'req.der', '-out', 'req.pem');
    // x509 -req takes the CSR's subject; -subj (OpenSSL 3) replaces it with the server's choice.
    ossl('x509', '-req', '-in', 'req.pem', '-CA', caFile, '-CAkey', caKeyFile, '-set_serial', `0x${randomBytes(8).toString('hex')}`, '-out', 'leaf.pem', '-days', String(days), '-extfile', 'leaf.ext', '-sha256', '-subj', subj);
    return readFileSync(join(work, 'leaf.pem'), 'utf8');
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
