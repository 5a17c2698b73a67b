// TPM enrollment end to end: swtpm as the edge machine's TPM (EK certificate from swtpm-localca),
// the `npm start` stack (worker under wrangler dev + dev cluster), and scripts/enroll.sh — then
// every refusal the issue names, each minting nothing.
import { execFile } from 'node:child_process';
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnUntilJson, type Started } from '../support/spawn.ts';
import { hasTpmTools, startSwtpm, type Swtpm } from '../support/swtpm.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const work = mkdtempSync(join(tmpdir(), 'k3s-enroll-tpm-'));
let tpmA: Swtpm;
let tpmB: Swtpm;
let stack: Started<{ ready: boolean }>;
let port = 0;
let state: { adminToken: string; clusterUrl: string; caFile: string; serviceAccountToken: string };

const freePort = () => new Promise<number>((r) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const p = (s.address() as { port: number }).port;
    s.close(() => r(p));
  });
});
const base = () => `http://127.0.0.1:${port}`;
const admin = () => ({ authorization: `Bearer ${state.adminToken}`, 'content-type': 'application/json' });
function clusterCall(method: string, path: string, bearer: string, body?: string): Promise<{ status: number; text: string }> {
  const u = new URL(path, state.clusterUrl);
  return new Promise((res, rej) => {
    const req = request({ hostname: u.hostname, port: u.port, path: u.pathname + u.search, method, ca: readFileSync(state.caFile), headers: { authorization: `Bearer ${bearer}`, ...(body ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) } : {}) } }, (r) => {
      let text = '';
      r.on('data', (d) => (text += d));
      r.on('end', () => res({ status: r.statusCode ?? 0, text }));
    });
    req.on('error', rej);
    req.end(body);
  });
}
const tokenCount = async (machine: string) => JSON.parse((await clusterCall('GET', `/api/v1/namespaces/kube-system/secrets?labelSelector=${encodeURIComponent(`k3s-enroll.io/machine=${machine}`)}`, state.serviceAccountToken)).text).items.length as number;

/** EK cert (DER, from NV) and its SPKI hash, plus a fresh AK, on one TPM. */
function keysOn(tpm: Swtpm, dir: string) {
  const t = (cmd: string, ...args: string[]) => tpm.run(cmd, args, { cwd: dir });
  t('tpm2_createek', '-c', 'ek.ctx', '-G', 'rsa', '-u', 'ek.pub', '-f', 'tss');
  t('tpm2_flushcontext', '-t');
  t('tpm2_createak', '-C', 'ek.ctx', '-c', 'ak.ctx', '-G', 'rsa', '-g', 'sha256', '-s', 'rsassa', '-u', 'ak.pub', '-n', 'ak.name');
  t('tpm2_flushcontext', '-t');
  t('tpm2_flushcontext', '-s');
  t('tpm2_nvread', '0x1c00002', '-C', 'o', '-o', 'ek-cert.der');
  const cert = readFileSync(join(dir, 'ek-cert.der'));
  const spki = new X509Certificate(cert).publicKey.export({ type: 'spki', format: 'der' });
  return { ekCert: cert.toString('base64'), akPub: readFileSync(join(dir, 'ak.pub')), ekSha256: createHash('sha256').update(spki).digest('hex') };
}
function activate(tpm: Swtpm, dir: string, credentialFile: Buffer): Buffer | null {
  const t = (cmd: string, ...args: string[]) => tpm.run(cmd, args, { cwd: dir });
  writeFileSync(join(dir, 'cred.blob'), credentialFile);
  try {
    t('tpm2_startauthsession', '--policy-session', '-S', 'session.ctx');
    t('tpm2_policysecret', '-S', 'session.ctx', '-c', 'e');
    t('tpm2_activatecredential', '-c', 'ak.ctx', '-C', 'ek.ctx', '-i', 'cred.blob', '-o', 'secret.bin', '-P', 'session:session.ctx');
    return readFileSync(join(dir, 'secret.bin'));
  } catch {
    return null;
  } finally {
    try {
      t('tpm2_flushcontext', 'session.ctx');
    } catch {}
    try {
      t('tpm2_flushcontext', '-t');
      t('tpm2_flushcontext', '-s');
    } catch {}
  }
}
const post = (path: string, body: unknown) => fetch(`${base()}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

/** The replaced token is deleted by the machine's Durable Object alarm a moment after the answer. */
async function settledTokenCount(machine: string, want: number): Promise<number> {
  let n = await tokenCount(machine);
  for (let i = 0; i < 50 && n !== want; i++) {
    await new Promise((r) => setTimeout(r, 100));
    n = await tokenCount(machine);
  }
  return n;
}

describe.skipIf(!hasTpmTools)('TPM enrollment with swtpm, tpm2-tools and enroll.sh', () => {
  let a: ReturnType<typeof keysOn>;
  let b: ReturnType<typeof keysOn>;
  const dirA = join(work, 'a');
  const dirB = join(work, 'b');

  beforeAll(async () => {
    tpmA = await startSwtpm(dirA);
    tpmB = await startSwtpm(dirB);
    a = keysOn(tpmA, dirA);
    b = keysOn(tpmB, dirB);
    port = await freePort();
    stack = await spawnUntilJson(process.execPath, ['scripts/start.mjs'], {
      cwd: ROOT,
      env: { ...process.env, PORT: String(port), K3S_ENROLL_DEV_DIR: join(work, 'dev'), CLUSTER_API_URL: '', K3S_SERVER_URL: '', TPM_EK_ROOTS_PEM: tpmA.caPem },
      timeoutMs: 90_000,
    });
    state = JSON.parse(readFileSync(join(work, 'dev', 'state.json'), 'utf8'));
    const reg = await fetch(`${base()}/v1/machines/edge-tpm-a`, { method: 'PUT', headers: admin(), body: JSON.stringify({ ekPublicKeySha256: a.ekSha256 }) });
    expect(reg.status).toBe(201);
  }, 180_000);
  afterAll(async () => {
    await stack?.stop();
    tpmA?.stop();
    tpmB?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('enroll.sh enrolls with the TPM, checks the cluster CA, and writes a 0600 config whose token logs in', async () => {
    const config = join(work, 'k3s', 'config.yaml');
    writeFileSync(join(work, 'dummy'), '');
    const result = await new Promise<{ code: number; stderr: string }>((res) => {
      execFile('sh', [join(ROOT, 'scripts/enroll.sh'), 'tpm'], { env: { ...process.env, ENROLL_URL: base(), K3S_CONFIG: config, TPM2TOOLS_TCTI: tpmA.tcti, WORK_DIR: join(work, 'enroll-a') } }, (err, _out, stderr) => res({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }));
    });
    expect(result.code, result.stderr).toBe(0);
    expect(statSync(config).mode & 0o777).toBe(0o600);
    const text = readFileSync(config, 'utf8');
    const token = /^token: "(K10[0-9a-f]{64}::[a-z0-9]{6}\.[a-z0-9]{16})"$/m.exec(text)![1]!;
    expect(text).toContain(`server: "${state.clusterUrl}"`);
    expect(token.slice(3, 67)).toBe(createHash('sha256').update(readFileSync(state.caFile)).digest('hex'));
    const who = await clusterCall('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', token.split('::')[1]!, '{}');
    expect(who.status).toBe(201);
    expect(JSON.parse(who.text).status.userInfo.username).toMatch(/^system:bootstrap:[a-z0-9]{6}$/);
    // Safe to re-run: a second run re-enrolls (one live token) and rewrites the config.
    const again = await new Promise<number>((res) => execFile('sh', [join(ROOT, 'scripts/enroll.sh'), 'tpm'], { env: { ...process.env, ENROLL_URL: base(), K3S_CONFIG: config, TPM2TOOLS_TCTI: tpmA.tcti, WORK_DIR: join(work, 'enroll-a2') } }, (err) => res(err ? 1 : 0)));
    expect(again).toBe(0);
    expect(await settledTokenCount('edge-tpm-a', 1)).toBe(1);
  }, 60_000);

  it.each([
    ['its lifetime says so', true],
    ['a resent answer is refused (no lifetime to go by)', false],
  ])('a challenge that expires while enroll.sh waits out an outage is fetched again when %s (exit 0, not 5)', async (_how, tellsLifetime) => {
    // A proxy in front of the service: its challenges expire after 8 s, and say so (Date header to
    // expiresAt; the service says 300 s) unless `tellsLifetime` is false (no Date header, the
    // service's expiresAt); POST /v1/enroll is down (503, Retry-After 1) for the first challenge,
    // and an answer to a challenge past its expiry gets the service's 401.
    const expiry = new Map<string, number>();
    const seen: string[] = [];
    let first: string | null = null;
    let refused = 0;
    const proxy = createHttpServer((req, res) => {
      res.sendDate = tellsLifetime;
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', async () => {
        const forward = () => fetch(`${base()}${req.url}`, { method: 'POST', headers: { 'content-type': 'application/json', ...(req.headers['idempotency-key'] ? { 'idempotency-key': String(req.headers['idempotency-key']) } : {}) }, body });
        const answer = (status: number, json: unknown, headers: Record<string, string> = {}) => {
          res.writeHead(status, { 'content-type': 'application/json', ...headers });
          res.end(JSON.stringify(json));
        };
        if (req.url === '/v1/enroll/challenge') {
          const r = await forward();
          const ch = (await r.json()) as { challengeId: string; expiresAt: string };
          const until = Date.now() + 8_000;
          expiry.set(ch.challengeId, until);
          first ??= ch.challengeId;
          seen.push(`challenge ${ch.challengeId}`);
          return answer(r.status, tellsLifetime ? { ...ch, expiresAt: new Date(until).toISOString().replace(/\.\d+Z$/, 'Z') } : ch);
        }
        const id = (JSON.parse(body) as { challengeId: string }).challengeId;
        seen.push(`enroll ${id}`);
        if (Date.now() > expiry.get(id)!) {
          refused++;
          return answer(401, { code: 'attestation_rejected', detail: 'attestation rejected' });
        }
        if (id === first) return answer(503, { code: 'upstream_unavailable', detail: 'down' }, { 'retry-after': '1' });
        const r = await forward();
        return answer(r.status, await r.json());
      });
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const via = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
    const config = join(work, 'k3s', `config-outage-${tellsLifetime}.yaml`);
    const result = await new Promise<{ code: number; stderr: string }>((res) => {
      execFile('sh', [join(ROOT, 'scripts/enroll.sh'), 'tpm'], { env: { ...process.env, ENROLL_URL: via, K3S_CONFIG: config, TPM2TOOLS_TCTI: tpmA.tcti, WORK_DIR: join(work, `enroll-outage-${tellsLifetime}`), ENROLL_MAX_TIME: '3' } }, (err, _out, stderr) => res({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }));
    });
    await new Promise((r) => proxy.close(r));
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain('fetching a new one');
    // Told the lifetime, it never sends a dead answer; otherwise one is refused, then it proves again.
    expect(refused).toBe(tellsLifetime ? 0 : 1);
    const challenges = seen.filter((x) => x.startsWith('challenge'));
    expect(challenges).toHaveLength(2);
    // The last answer sent was the second challenge's, and it enrolled.
    expect(seen.at(-1)).toBe(`enroll ${challenges[1]!.slice('challenge '.length)}`);
    expect(readFileSync(config, 'utf8')).toMatch(/^token: "K10[0-9a-f]{64}::[a-z0-9]{6}\.[a-z0-9]{16}"$/m);
    expect(await settledTokenCount('edge-tpm-a', 1)).toBe(1);
  }, 90_000);

  it('a replayed challenge is refused and mints nothing', async () => {
    const ch = await (await post('/v1/enroll/challenge', { method: 'tpm', ekCert: a.ekCert, akPublic: a.akPub.toString('base64') })).json() as { challengeId: string; tpm2ToolsCredential: string };
    const secret = activate(tpmA, dirA, Buffer.from(ch.tpm2ToolsCredential, 'base64'))!;
    expect(secret).not.toBeNull();
    const first = await post('/v1/enroll', { method: 'tpm', challengeId: ch.challengeId, secret: secret.toString('base64') });
    expect(first.status).toBe(201);
    const replay = await post('/v1/enroll', { method: 'tpm', challengeId: ch.challengeId, secret: secret.toString('base64') });
    expect(replay.status).toBe(401);
    expect(await replay.json()).toMatchObject({ code: 'attestation_rejected' });
    expect(await settledTokenCount('edge-tpm-a', 1)).toBe(1);
  }, 60_000);

  it('a legitimate prover gets through while an attacker opens challenges and answers wrongly for the same machine', async () => {
    const ch = await (await post('/v1/enroll/challenge', { method: 'tpm', ekCert: a.ekCert, akPublic: a.akPub.toString('base64') })).json() as { challengeId: string; tpm2ToolsCredential: string };
    const secret = activate(tpmA, dirA, Buffer.from(ch.tpm2ToolsCredential, 'base64'))!;
    // The attacker has only public material (A's EK certificate, another AK), from many addresses.
    for (let i = 0; i < 20; i++) {
      const from = { 'content-type': 'application/json', 'cf-connecting-ip': `203.0.113.${i + 1}` };
      const x = await fetch(`${base()}/v1/enroll/challenge`, { method: 'POST', headers: from, body: JSON.stringify({ method: 'tpm', ekCert: a.ekCert, akPublic: b.akPub.toString('base64') }) });
      expect(x.status).toBe(201);
      const { challengeId } = (await x.json()) as { challengeId: string };
      const wrong = await fetch(`${base()}/v1/enroll`, { method: 'POST', headers: from, body: JSON.stringify({ method: 'tpm', challengeId, secret: randomBytes(32).toString('base64') }) });
      expect(wrong.status).toBe(401);
      await wrong.body?.cancel();
    }
    const ok = await post('/v1/enroll', { method: 'tpm', challengeId: ch.challengeId, secret: secret.toString('base64') });
    expect(ok.status, await ok.clone().text()).toBe(201);
    expect(await settledTokenCount('edge-tpm-a', 1)).toBe(1); // the replaced token's delete is deferred a moment
    // The id is opaque: it does not name the machine.
    expect(ch.challengeId).not.toContain('edge-tpm-a');
  }, 90_000);

  it('an EK certificate from an untrusted CA (another swtpm-localca) is refused at the challenge', async () => {
    const res = await post('/v1/enroll/challenge', { method: 'tpm', ekCert: b.ekCert, akPublic: b.akPub.toString('base64') });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ code: 'attestation_rejected' });
  });

  it('a credential cannot be activated on a different TPM; a guessed secret is refused', async () => {
    // A's EK certificate (copied) with B's AK: the credential is sealed to A's EK.
    const ch = await (await post('/v1/enroll/challenge', { method: 'tpm', ekCert: a.ekCert, akPublic: b.akPub.toString('base64') })).json() as { challengeId: string; tpm2ToolsCredential: string };
    expect(activate(tpmB, dirB, Buffer.from(ch.tpm2ToolsCredential, 'base64'))).toBeNull();
    const before = await tokenCount('edge-tpm-a');
    const res = await post('/v1/enroll', { method: 'tpm', challengeId: ch.challengeId, secret: randomBytes(32).toString('base64') });
    expect(res.status).toBe(401);
    expect(await tokenCount('edge-tpm-a')).toBe(before);
  }, 60_000);

  it('a tampered blob fails activation, and nothing is minted', async () => {
    const ch = await (await post('/v1/enroll/challenge', { method: 'tpm', ekCert: a.ekCert, akPublic: a.akPub.toString('base64') })).json() as { challengeId: string; tpm2ToolsCredential: string };
    const blob = Buffer.from(ch.tpm2ToolsCredential, 'base64');
    blob[30] = blob[30]! ^ 0x01;
    expect(activate(tpmA, dirA, blob)).toBeNull();
    const before = await tokenCount('edge-tpm-a');
    const res = await post('/v1/enroll', { method: 'tpm', challengeId: ch.challengeId, secret: randomBytes(32).toString('base64') });
    expect(res.status).toBe(401);
    expect(await tokenCount('edge-tpm-a')).toBe(before);
  }, 60_000);

  it('an AK that is not restricted is refused at the challenge', async () => {
    const ak = Buffer.from(a.akPub);
    // objectAttributes: bytes 6..9 of the TPM2B (size, type, nameAlg come first); bit 16 = restricted.
    ak[7] = ak[7]! & ~0x01;
    const res = await post('/v1/enroll/challenge', { method: 'tpm', ekCert: a.ekCert, akPublic: ak.toString('base64') });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ code: 'attestation_rejected' });
  });

  it('a genuine but unregistered TPM is not our machine (TPM_ALLOW_UNREGISTERED is off)', async () => {
    // Trusted chain but unregistered: register A's sibling? Use A's EK with the registration removed.
    const del = await fetch(`${base()}/v1/machines/edge-tpm-a`, { method: 'DELETE', headers: admin() });
    expect(del.status).toBe(200);
    const res = await post('/v1/enroll/challenge', { method: 'tpm', ekCert: a.ekCert, akPublic: a.akPub.toString('base64') });
    // One refusal for unknown and revoked machines alike (the reason is in the audit log).
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ code: 'attestation_rejected' });
    expect(await tokenCount('edge-tpm-a')).toBe(0);
  });
});
