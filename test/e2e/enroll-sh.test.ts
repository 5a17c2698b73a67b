// scripts/enroll.sh on its own (no service needed): http:// refused except to loopback or with
// ENROLL_ALLOW_HTTP=1, bounded curl times, no predictable temp dir, k3s's CA-hash rule on the
// published vectors and on a bundle with more than one root, and shellcheck when installed.
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { X509Certificate, createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import vectors from '../vectors/ca-hash.json' with { type: 'json' };
import { hashClusterCA } from '../../src/token/index.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const SCRIPT = join(ROOT, 'scripts/enroll.sh');
const dir = mkdtempSync(join(tmpdir(), 'enroll-sh-'));
const hasOpenssl = spawnSync('openssl', ['version']).status === 0;
const hasCurl = spawnSync('curl', ['--version']).status === 0;

function enrollSh(args: string[], env: Record<string, string>, timeoutMs = 20_000): Promise<{ code: number; stderr: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((res) =>
    execFile('sh', [SCRIPT, ...args], { env: { PATH: process.env.PATH!, HOME: dir, K3S_CONFIG: join(dir, 'k3s', 'config.yaml'), ...env }, timeout: timeoutMs }, (err, _o, stderr) =>
      res({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr, ms: Date.now() - t0 }),
    ),
  );
}
// ENROLL_MAX_WAIT=0: one attempt (these tests are about a single request; retries have their own tests).
const codeEnv = { MACHINE_ID: 'm-1', ENROLL_CODE: 'code-0123456789abcdef', ENROLL_MAX_WAIT: '0' };

let silent: Server;
let silentPort = 0;
const sockets = new Set<import('node:net').Socket>();
beforeAll(async () => {
  // Accepts connections and never answers: only a total timeout gets curl out.
  silent = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
  silentPort = (silent.address() as { port: number }).port;
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => silent.close(r));
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!hasCurl || !hasOpenssl)('enroll.sh transport rules', () => {
  it.each(['http://enroll.example.com', 'http://10.0.0.5:8787', 'HTTP://enroll.example.com', 'http://127.0.0.1.example.com', 'http://localhost.example.com', 'http://user@evil.example/@127.0.0.1'])('refuses %s (exit 2) before sending anything', async (url) => {
    const r = await enrollSh(['code'], { ENROLL_URL: url, ...codeEnv });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('refusing http://');
  });

  it.each(['ftp://enroll.example.com', 'file:///etc/passwd', 'enroll.example.com'])('refuses a non-http(s) ENROLL_URL %s', async (url) => {
    const r = await enrollSh(['code'], { ENROLL_URL: url, ...codeEnv });
    expect(r.code).toBe(2);
  });

  it.each(['http://127.0.0.1:1', 'http://127.9.8.7:1', 'http://localhost:1', 'http://[::1]:1'])('allows loopback %s (gets as far as connecting: exit 4)', async (url) => {
    const r = await enrollSh(['code'], { ENROLL_URL: url, ...codeEnv, ENROLL_CONNECT_TIMEOUT: '2' });
    expect(r.stderr).not.toContain('refusing http://');
    expect(r.code).toBe(4);
  });

  it('allows http:// to another host only with ENROLL_ALLOW_HTTP=1', async () => {
    // 192.0.2.0/24 is TEST-NET-1: never routed, so this ends at the connect timeout or no route.
    const r = await enrollSh(['code'], { ENROLL_URL: 'http://192.0.2.1:9', ENROLL_ALLOW_HTTP: '1', ENROLL_CONNECT_TIMEOUT: '1', ...codeEnv });
    expect(r.stderr).not.toContain('refusing http://');
    expect(r.code).toBe(4);
  });

  it('a peer that accepts and never answers costs at most ENROLL_MAX_TIME (exit 4)', async () => {
    const r = await enrollSh(['code'], { ENROLL_URL: `http://127.0.0.1:${silentPort}`, ENROLL_MAX_TIME: '1', ...codeEnv });
    expect(r.code).toBe(4);
    expect(r.ms).toBeLessThan(10_000);
  });

  it('refuses non-numeric timeouts', async () => {
    expect((await enrollSh(['code'], { ENROLL_URL: 'http://127.0.0.1:1', ENROLL_MAX_TIME: '1; rm -rf /', ...codeEnv })).code).toBe(2);
    expect((await enrollSh(['code'], { ENROLL_URL: 'http://127.0.0.1:1', ENROLL_CONNECT_TIMEOUT: '0', ...codeEnv })).code).toBe(2);
  });

  it('fails (exit 2) when mktemp -d fails, and creates no predictable /tmp/enroll.<pid> instead', async () => {
    const shim = join(dir, 'shim');
    mkdirSync(shim, { recursive: true });
    writeFileSync(join(shim, 'mktemp'), '#!/bin/sh\nexit 1\n');
    chmodSync(join(shim, 'mktemp'), 0o755);
    const before = new Set(readdirSync('/tmp').filter((n) => n.startsWith('enroll.')));
    const r = await enrollSh(['code'], { ENROLL_URL: 'http://127.0.0.1:1', PATH: `${shim}:${process.env.PATH}`, ...codeEnv });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('mktemp -d failed');
    expect(readdirSync('/tmp').filter((n) => n.startsWith('enroll.') && !before.has(n))).toEqual([]);
  });
});

describe.skipIf(!hasOpenssl)('enroll.sh ca-hash: k3s hashCA exactly', () => {
  const certs = vectors.certificates as Record<string, string>;
  it.each(vectors.caHash.map((v) => [v.name, v] as const))('%s', async (_name, v) => {
    const file = join(dir, `v-${v.bundle.join('-')}.pem`);
    writeFileSync(file, v.bundle.map((c) => certs[c]).join(''));
    expect(execFileSync('sh', [SCRIPT, 'ca-hash', file], { encoding: 'utf8' }).trim()).toBe(v.hash);
  });

  it('several roots in the bundle: the root certs[0] verifies to, not the last certificate', async () => {
    const pki = join(dir, 'pki');
    mkdirSync(pki, { recursive: true });
    const ossl = (...a: string[]) => execFileSync('openssl', a, { cwd: pki, stdio: ['ignore', 'pipe', 'pipe'] });
    for (const n of ['root', 'other']) ossl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${n}.key`, '-out', `${n}.pem`, '-days', '30', '-subj', `/CN=${n}-ca`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign');
    writeFileSync(join(pki, 'inter.ext'), 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n');
    ossl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'inter.key', '-out', 'inter.csr', '-subj', '/CN=k3s-server-ca');
    ossl('x509', '-req', '-in', 'inter.csr', '-CA', 'root.pem', '-CAkey', 'root.key', '-CAcreateserial', '-out', 'inter.pem', '-days', '30', '-extfile', 'inter.ext');
    const pem = (n: string) => readFileSync(join(pki, `${n}.pem`), 'utf8');
    const bundle = pem('inter') + pem('root') + pem('other');
    const file = join(pki, 'bundle.pem');
    writeFileSync(file, bundle);
    const rootDerHash = createHash('sha256').update(new X509Certificate(pem('root')).raw).digest('hex');
    expect(await hashClusterCA(bundle)).toBe(rootDerHash); // the TypeScript port of k3s agrees
    expect(execFileSync('sh', [SCRIPT, 'ca-hash', file], { encoding: 'utf8' }).trim()).toBe(rootDerHash);
    // Unrelated roots only: verification fails, so the hash of the bytes as served.
    writeFileSync(file, pem('inter') + pem('other'));
    expect(execFileSync('sh', [SCRIPT, 'ca-hash', file], { encoding: 'utf8' }).trim()).toBe(createHash('sha256').update(pem('inter') + pem('other')).digest('hex'));
  });
});

const shellcheck = spawnSync('shellcheck', ['--version']).status === 0;
describe('enroll.sh static checks', () => {
  it.skipIf(!shellcheck)('passes shellcheck (POSIX sh)', () => {
    const r = spawnSync('shellcheck', ['-s', 'sh', SCRIPT], { encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
  if (!shellcheck) it.skip('shellcheck is not installed (apt-get install shellcheck): static check skipped', () => undefined);
  it('does not fall back to a predictable temp dir', () => {
    expect(readFileSync(SCRIPT, 'utf8')).not.toMatch(/\/tmp\/enroll\.\$\$/);
    expect(existsSync(SCRIPT)).toBe(true);
  });
});
