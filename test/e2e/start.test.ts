// `npm start` for real (dev cluster + wrangler dev), then the operator CLI against it: each
// `k3s-token` sub-command, checked in the dev cluster; Ctrl-C stops both; a restart reuses state.
import { execFile, execFileSync } from 'node:child_process';
import { createHash, sign as signData, X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnUntilJson, type Started } from '../support/spawn.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const run = promisify(execFile);
const devDir = mkdtempSync(join(tmpdir(), 'k3s-enroll-start-'));
let port = 0;
let started: Started<{ ready: boolean; enrollUrl: string; clusterUrl: string; caFile: string }>;
let state: { enrollUrl: string; adminToken: string; clusterUrl: string; caFile: string; serviceAccountToken: string; fleetWebhookSecret: string; serverToken: string };

const freePort = () => new Promise<number>((r) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const p = (s.address() as { port: number }).port;
    s.close(() => r(p));
  });
});
const pki = join(devDir, 'device-pki');
const ossl = (...args: string[]) => execFileSync('openssl', args, { cwd: pki, stdio: ['ignore', 'pipe', 'pipe'] });
function makeDevicePki() {
  mkdirSync(pki, { recursive: true });
  writeFileSync(join(pki, 'client.ext'), 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n');
  writeFileSync(join(pki, 'server.ext'), 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n');
  ossl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '365', '-subj', '/CN=device-ca', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign');
  for (const [name, ext] of [['device', 'client.ext'], ['wrongeku', 'server.ext']]) {
    ossl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    ossl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '30', '-extfile', ext!);
  }
  ossl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'rogue.key', '-out', 'rogue.pem', '-days', '30', '-subj', '/CN=device');
}
const start = () =>
  spawnUntilJson<{ ready: boolean; enrollUrl: string; clusterUrl: string; caFile: string }>(process.execPath, ['scripts/start.mjs'], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), K3S_ENROLL_DEV_DIR: devDir, CLUSTER_API_URL: '', K3S_SERVER_URL: '', DEVICE_CA_PEM: readFileSync(join(pki, 'ca.pem'), 'utf8') },
    timeoutMs: 90_000,
  });
function cluster(method: string, path: string, bearer: string, body?: string, auth?: string): Promise<{ status: number; text: string }> {
  const u = new URL(path, state.clusterUrl);
  return new Promise((res, rej) => {
    const req = request({ hostname: u.hostname, port: u.port, path: u.pathname + u.search, method, ca: readFileSync(state.caFile), headers: { authorization: auth ?? `Bearer ${bearer}`, ...(body ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) } : {}) } }, (r) => {
      let text = '';
      r.on('data', (d) => (text += d));
      r.on('end', () => res({ status: r.statusCode ?? 0, text }));
    });
    req.on('error', rej);
    req.end(body);
  });
}
const whoami = (token: string) => cluster('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', token, '{}');
const cli = async (...args: string[]) => {
  try {
    const { stdout, stderr } = await run(process.execPath, ['scripts/k3s-token.mjs', ...args], { cwd: ROOT, env: { ...process.env, K3S_ENROLL_DEV_DIR: devDir } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
};
const bootstrapOf = (k10: string) => k10.trim().split('::')[1]!;

beforeAll(async () => {
  makeDevicePki();
  port = await freePort();
  started = await start();
  state = JSON.parse(readFileSync(join(devDir, 'state.json'), 'utf8'));
}, 120_000);
afterAll(async () => {
  await started?.stop();
  rmSync(devDir, { recursive: true, force: true });
});

describe('npm start', () => {
  it('writes .dev/state.json (0600) with the documented fields and serves the worker', async () => {
    expect(Object.keys(state)).toEqual(expect.arrayContaining(['enrollUrl', 'adminToken', 'clusterUrl', 'caFile', 'serviceAccountToken', 'fleetWebhookSecret']));
    expect(statSync(join(devDir, 'state.json')).mode & 0o777).toBe(0o600);
    expect(state.enrollUrl).toBe(`http://127.0.0.1:${port}/v1/enroll`);
    expect(await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()).toEqual({ ok: true });
  });

  it('register → enroll on the running stack gives a token that logs in to the dev cluster', async () => {
    const admin = { authorization: `Bearer ${state.adminToken}`, 'content-type': 'application/json' };
    expect((await fetch(`http://127.0.0.1:${port}/v1/machines/start-1`, { method: 'PUT', headers: admin, body: JSON.stringify({ enrollmentCode: 'start-code-0123456789abcdef' }) })).status).toBe(201);
    const res = await fetch(state.enrollUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ method: 'code', machineId: 'start-1', code: 'start-code-0123456789abcdef' }) });
    expect(res.status).toBe(201);
    const body = (await res.json()) as { token: string; server: string };
    expect(body.server).toBe(state.clusterUrl);
    expect((await whoami(bootstrapOf(body.token))).status).toBe(201);
  });
});

describe('hostile input leaves npm start usable (issue 14 item 16)', () => {
  // Sends a chunked body of `kib` KiB and resolves with the status (the body may still be flowing).
  const chunkedUpload = (kib: number) =>
    new Promise<number>((res, rej) => {
      const req = httpRequest({ host: '127.0.0.1', port, path: '/v1/enroll', method: 'POST', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } }, (r) => {
        r.resume();
        r.on('end', () => res(r.statusCode ?? 0));
      });
      req.on('error', rej);
      const chunk = Buffer.alloc(1024, 0x61);
      for (let i = 0; i < kib; i++) req.write(chunk);
      req.end();
    });
  it('a chunked upload over the body limit is 413, and the next requests from any client are answered', async () => {
    for (let i = 0; i < 3; i++) {
      expect(await chunkedUpload(256)).toBe(413);
      const health = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(10_000) });
      expect(health.status).toBe(200);
      const post = await fetch(state.enrollUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"method":"code","machineId":"nobody","code":"nobody-code-0123456789"}', signal: AbortSignal.timeout(10_000) });
      expect(post.status).toBeLessThan(500);
    }
  }, 90_000);
});

describe('scripts/enroll.sh (code method) against npm start', () => {
  const enrollSh = (env: Record<string, string>) =>
    new Promise<{ code: number; stderr: string }>((res) =>
      execFile('sh', [join(ROOT, 'scripts/enroll.sh'), 'code'], { env: { ...process.env, ...env } }, (err, _o, stderr) => res({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr })),
    );
  it('enrolls with a code holding JSON metacharacters, writes the config, and the token logs in', async () => {
    const code = 'q"uote\\back-0123456789';
    const admin = { authorization: `Bearer ${state.adminToken}`, 'content-type': 'application/json' };
    expect((await fetch(`http://127.0.0.1:${port}/v1/machines/sh-1`, { method: 'PUT', headers: admin, body: JSON.stringify({ enrollmentCode: code }) })).status).toBe(201);
    const config = join(devDir, 'k3s', 'config.yaml');
    const r = await enrollSh({ ENROLL_URL: `http://127.0.0.1:${port}`, MACHINE_ID: 'sh-1', ENROLL_CODE: code, K3S_CONFIG: config });
    expect(r.code, r.stderr).toBe(0);
    const token = /^token: "(K10[^"]+)"$/m.exec(readFileSync(config, 'utf8'))![1]!;
    expect((await whoami(bootstrapOf(token))).status).toBe(201);
  });
  it('exits 5 when refused (the code is now used) and 4 when the service is unreachable', async () => {
    const refused = await enrollSh({ ENROLL_URL: `http://127.0.0.1:${port}`, MACHINE_ID: 'sh-1', ENROLL_CODE: 'q"uote\\back-0123456789', K3S_CONFIG: join(devDir, 'k3s', 'other.yaml') });
    expect(refused.code).toBe(5);
    expect(refused.stderr).toContain('code_used');
    // An unreachable service is waited for within ENROLL_MAX_WAIT; with none left, exit 4 at once.
    const down = await enrollSh({ ENROLL_URL: 'http://127.0.0.1:1', MACHINE_ID: 'sh-1', ENROLL_CODE: 'whatever-0123456789', K3S_CONFIG: join(devDir, 'k3s', 'other.yaml'), ENROLL_MAX_WAIT: '0' });
    expect(down.code).toBe(4);
    expect(down.stderr).toContain('cannot reach http://127.0.0.1:1; gave up after waiting 0s');
    const usage = await enrollSh({ ENROLL_URL: `http://127.0.0.1:${port}`, K3S_CONFIG: join(devDir, 'k3s', 'other.yaml') });
    expect(usage.code).toBe(2);
  });
});

describe('device certificate (x509) enrollment against npm start', () => {
  const der = (name: string) => new X509Certificate(readFileSync(join(pki, `${name}.pem`))).raw;
  const admin = () => ({ authorization: `Bearer ${state.adminToken}`, 'content-type': 'application/json' });
  const post = (path: string, body: unknown) => fetch(`http://127.0.0.1:${port}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const signNonce = (key: string, nonceHex: string) => signData('sha256', Buffer.from(nonceHex, 'hex'), readFileSync(join(pki, `${key}.key`))).toString('base64');

  it('challenge → signature over the nonce → a token that logs in; the challenge answers once', async () => {
    const reg = await fetch(`http://127.0.0.1:${port}/v1/machines/dev-x509`, { method: 'PUT', headers: admin(), body: JSON.stringify({ certificateSha256: createHash('sha256').update(der('device')).digest('hex') }) });
    expect(reg.status).toBe(201);
    const ch = (await (await post('/v1/enroll/challenge', { method: 'x509', machineId: 'dev-x509', certificate: der('device').toString('base64') })).json()) as { challengeId: string; nonce: string };
    const body = { method: 'x509', challengeId: ch.challengeId, certificate: der('device').toString('base64'), signature: signNonce('device', ch.nonce) };
    const res = await post('/v1/enroll', body);
    expect(res.status).toBe(201);
    const token = ((await res.json()) as { token: string }).token;
    expect((await whoami(bootstrapOf(token))).status).toBe(201);
    const replay = await post('/v1/enroll', body);
    expect(replay.status).toBe(401);
  });

  it('refuses a signature by another key, a self-signed look-alike, a serverAuth-only certificate, and an unregistered certificate', async () => {
    const ch = (await (await post('/v1/enroll/challenge', { method: 'x509', machineId: 'dev-x509', certificate: der('device').toString('base64') })).json()) as { challengeId: string; nonce: string };
    const wrongKey = await post('/v1/enroll', { method: 'x509', challengeId: ch.challengeId, certificate: der('device').toString('base64'), signature: signNonce('rogue', ch.nonce) });
    expect(wrongKey.status).toBe(401);
    const rogue = await post('/v1/enroll/challenge', { method: 'x509', machineId: 'dev-x509', certificate: der('rogue').toString('base64') });
    expect(rogue.status).toBe(401);
    const eku = await post('/v1/enroll/challenge', { method: 'x509', machineId: 'dev-x509', certificate: der('wrongeku').toString('base64') });
    expect(eku.status).toBe(401);
    const unknown = await post('/v1/enroll/challenge', { method: 'x509', machineId: 'nobody-x509', certificate: der('device').toString('base64') });
    expect(unknown.status).toBe(401);
    expect(await unknown.json()).toMatchObject({ code: 'attestation_rejected' });
  });
});

describe('k3s-token CLI against npm start', () => {
  it('create (defaults) prints one K10 line whose token logs in', async () => {
    const r = await cli('create', '--description', 'from cli');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^K10[0-9a-f]{64}::[a-z0-9]{6}\.[a-z0-9]{16}\n$/);
    expect((await whoami(bootstrapOf(r.stdout))).status).toBe(201);
  });

  it('create with a token and --ttl=0, then list: `perage  <forever>  <never>` in the k3s table', async () => {
    expect((await cli('create', '--ttl=0', 'perage.s0xt4u0hl5guoyi6')).code).toBe(0);
    expect((await cli('create', '--ttl', '10m', '--description', 'Test', '10mint.ida18trbbk43szwk')).code).toBe(0);
    const dup = await cli('create', 'perage.s0xt4u0hl5guoyi6');
    expect(dup.code).toBe(1);
    expect(dup.stderr).toBe('error: a token with id "perage" already exists\n');
    const list = await cli('list');
    const lines = list.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^TOKEN\s+TTL\s+EXPIRES\s+USAGES\s+DESCRIPTION\s+EXTRA GROUPS$/);
    expect(list.stdout).toMatch(/\nperage\s+<forever>\s+<never>\s+authentication,signing\s+<none>\s+system:bootstrappers:k3s:default-node-token\n/);
    expect(list.stdout).toMatch(/\n10mint\s+[0-9]m\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+authentication,signing\s+Test\s+/);
    // Column layout of Go's tabwriter (minwidth 10, padding 3): every column starts at the header's offset.
    const at = (s: string, col: string) => s.indexOf(col);
    const perage = lines.find((l) => l.startsWith('perage'))!;
    expect(perage.indexOf('<forever>')).toBe(at(lines[0]!, 'TTL'));
    expect(perage.indexOf('<never>')).toBe(at(lines[0]!, 'EXPIRES'));
  });

  it('list -o json matches k3s (token {}, description/expires omitted when empty)', async () => {
    const r = await cli('list', '-o', 'json');
    const items = JSON.parse(r.stdout) as Array<Record<string, unknown>>;
    expect(r.stdout.endsWith(']\n')).toBe(true);
    expect(items).toContainEqual({ token: {}, usages: ['authentication', 'signing'], groups: ['system:bootstrappers:k3s:default-node-token'] });
    expect(items.find((i) => i.description === 'Test')).toMatchObject({ token: {}, expires: expect.stringMatching(/Z$/) });
    expect((await cli('list', '-o', 'yaml')).stderr).toBe('error: invalid output format: yaml\n');
  });

  it('delete by id and by full token', async () => {
    const a = (await cli('create')).stdout;
    const b = (await cli('create')).stdout;
    const idA = bootstrapOf(a).split('.')[0]!;
    expect((await cli('delete', idA)).stdout).toBe(`bootstrap token "${idA}" deleted\n`);
    expect((await cli('delete', b.trim())).code).toBe(0);
    // Only the id went on the wire: the secret is in no log line of the stack (wrangler included).
    expect(started.stderr()).not.toContain(bootstrapOf(b).split('.')[1]!);
    const direct = await fetch(`http://127.0.0.1:${port}/v1/tokens/${encodeURIComponent(bootstrapOf(a))}`, { method: 'DELETE', headers: { authorization: `Bearer ${state.adminToken}` } });
    expect(direct.status).toBe(400);
    expect(started.stderr()).not.toContain(bootstrapOf(a).split('.')[1]!);
    expect((await whoami(bootstrapOf(a))).status).toBe(401);
    expect((await whoami(bootstrapOf(b))).status).toBe(401);
    const missing = await cli('delete');
    expect(missing.stderr).toBe("error: missing argument; 'token delete' is missing token\n");
  });

  it('generate prints a token and creates nothing', async () => {
    const before = (await cli('list', '-o', 'json')).stdout;
    const r = await cli('generate');
    expect(r.stdout).toMatch(/^[a-z0-9]{6}\.[a-z0-9]{16}\n$/);
    expect((await cli('list', '-o', 'json')).stdout).toBe(before);
  });

  it('rotate replaces the server token through the dev cluster supervisor', async () => {
    const basic = (pw: string) => `Basic ${Buffer.from(`server:${pw}`).toString('base64')}`;
    const old = state.serverToken;
    const r = await cli('rotate', '-t', old, '--new-token', 'rotated-by-cli-1');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('Token rotated, restart k3s nodes with new token\n');
    expect(r.stderr).toContain('WARNING');
    expect((await cluster('PUT', '/v1-k3s/token', '', '{"newToken":"x"}', basic(old.split('::server:')[1]!))).status).toBe(401);
    expect((await cli('rotate', '-t', old)).stderr).toMatch(/^error: the k3s supervisor rejected the current server token$/m);
    // Put it back for later runs.
    expect((await cli('rotate', '-t', 'rotated-by-cli-1', '--new-token', old.split('::server:')[1]!)).code).toBe(0);
  });

  it('runs under Deno too, with the same output', async () => {
    const deno = async (...args: string[]) =>
      (await run(join(ROOT, 'node_modules/.bin/deno'), ['run', '--allow-net=127.0.0.1', '--allow-env', '--allow-read', '--cached-only', 'scripts/k3s-token.mjs', ...args], { cwd: ROOT, env: { ...process.env, K3S_ENROLL_DEV_DIR: devDir, DENO_NO_UPDATE_CHECK: '1' } })).stdout;
    expect(await deno('generate')).toMatch(/^[a-z0-9]{6}\.[a-z0-9]{16}\n$/);
    expect(await deno('list', '-o', 'json')).toBe((await cli('list', '-o', 'json')).stdout);
  }, 60_000);

  it('--help for each sub-command; errors are one line and exit 1', async () => {
    for (const sub of ['create', 'delete', 'generate', 'list', 'rotate']) expect((await cli(sub, '--help')).stdout).toContain(`k3s-token ${sub}`);
    const bad = await cli('list', '--admin-token', 'wrong-wrong-wrong-wrong');
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('npm start lifecycle', () => {
  it('Ctrl-C stops both; a second start reuses the state', async () => {
    await started.stop();
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
    started = await start();
    const again = JSON.parse(readFileSync(join(devDir, 'state.json'), 'utf8'));
    expect(again.adminToken).toBe(state.adminToken);
    expect(again.caFile).toBe(state.caFile);
    expect(again.serviceAccountToken).toBe(state.serviceAccountToken);
    const m = await fetch(`http://127.0.0.1:${port}/v1/machines/start-1`, { headers: { authorization: `Bearer ${state.adminToken}` } });
    expect(m.status).toBe(200);
  }, 120_000);
});
