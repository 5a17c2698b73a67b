// The real Worker in workerd through plain Miniflare, for Node-side tests that send thousands of
// requests: wrangler's dry-run bundle, every binding wrangler.toml declares (DOs, D1, queue,
// rate limit, vars) plus the test's own, and the D1 migrations applied. Not the vitest pool: there
// each SELF.fetch gets slower the more a test file has sent (cloudflare/workers-sdk#15446).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Log, LogLevel, Miniflare } from 'miniflare';
import { unstable_getMiniflareWorkerOptions, unstable_splitSqlQuery } from 'wrangler';
// @ts-expect-error: plain JavaScript module with JSDoc types
import { startDevCluster } from '../../scripts/dev-cluster/index.mjs';
import { startEventsReceiver } from './events-receiver.ts';
import { startTestIssuer } from './test-issuer.ts';

const ROOT = resolve(import.meta.dirname, '../..');

export interface MiniflareWorker {
  fetch(path: string, init?: RequestInit): Promise<Response>;
  close(): Promise<void>;
}

/**
 * `bindings` are added to wrangler.toml's vars; `trustedCaPem` is trusted for outbound HTTPS.
 * `dropLog(line)`: worker stdout lines the test expects by the thousand and does not want printed.
 */
export async function startMiniflareWorker(opts: { bindings: Record<string, string>; trustedCaPem?: string; dropLog?: (line: string) => boolean }): Promise<MiniflareWorker> {
  const dir = mkdtempSync(join(tmpdir(), 'k3s-enroll-mf-'));
  // WORKER_BUNDLE_DIR: a dry-run bundle of this very tree, made moments ago (scripts/test.mjs's static check).
  const dist = process.env.WORKER_BUNDLE_DIR || join(dir, 'dist');
  if (!process.env.WORKER_BUNDLE_DIR) {
    const built = spawnSync('npx', ['wrangler', 'deploy', '--dry-run', '--outdir', dist], { cwd: ROOT, env: { ...process.env, WRANGLER_SEND_METRICS: 'false' }, encoding: 'utf8' });
    if (built.status !== 0) throw new Error(`wrangler deploy --dry-run failed: ${built.stderr}`);
  }
  const { workerOptions } = unstable_getMiniflareWorkerOptions(join(ROOT, 'wrangler.toml'));
  const drop = opts.dropLog ?? (() => false);
  const forward = (stream: NodeJS.ReadableStream, to: NodeJS.WriteStream) => {
    let rest = '';
    stream.on('data', (chunk: Buffer) => {
      const lines = (rest + chunk.toString('utf8')).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) if (!drop(line)) to.write(`${line}\n`);
    });
  };
  const mf = new Miniflare({
    ...(workerOptions as object),
    modules: true,
    scriptPath: join(dist, 'index.js'),
    modulesRoot: dist,
    bindings: { ...workerOptions.bindings, ...opts.bindings },
    ...(opts.trustedCaPem ? { outboundService: { network: { allow: ['public', 'private', 'local'], tlsOptions: { trustBrowserCas: true, trustedCertificates: [opts.trustedCaPem] } } } } : {}),
    cf: false,
    log: new Log(LogLevel.WARN),
    handleRuntimeStdio(stdout, stderr) {
      forward(stdout, process.stdout);
      forward(stderr, process.stderr);
    },
  } as ConstructorParameters<typeof Miniflare>[0]);
  try {
    await mf.ready;
    const db = await mf.getD1Database('DB');
    for (const file of readdirSync(join(ROOT, 'migrations')).filter((f) => f.endsWith('.sql')).sort()) {
      const statements = unstable_splitSqlQuery(readFileSync(join(ROOT, 'migrations', file), 'utf8'));
      await db.batch(statements.map((s) => db.prepare(s)));
    }
  } catch (err) {
    await mf.dispose();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    fetch: (path, init) => mf.dispatchFetch(`https://enroll.test${path}`, init as never) as unknown as Promise<Response>,
    async close() {
      await mf.dispose();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const TEST_ADMIN_TOKEN = 'test-admin-token-0123456789';
export const TEST_FLEET_WEBHOOK_SECRET = 'test-fleet-webhook-secret-0123456789';

export interface WorkerStack {
  worker: MiniflareWorker;
  cluster: { url: string; caPem: string; serviceAccountToken: string };
  close(): Promise<void>;
}

/**
 * The service as the workerd integration tests get it (vitest.config.ts, test/global-setup.ts): a
 * dev cluster, a JWT issuer, an events receiver and the same secrets, in front of the Worker.
 */
export async function startWorkerStack(opts: { dropLog?: (line: string) => boolean } = {}): Promise<WorkerStack> {
  const stateDir = mkdtempSync(join(tmpdir(), 'k3s-enroll-devcluster-'));
  const stops: Array<() => Promise<void>> = [];
  const close = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    rmSync(stateDir, { recursive: true, force: true });
  };
  try {
    const cluster = await startDevCluster({ port: 0, stateDir, tokenCleanerIntervalMs: 500 });
    stops.push(() => cluster.close());
    const issuer = await startTestIssuer();
    const receiver = await startEventsReceiver('test-events-webhook-secret-0123456789');
    stops.push(() => receiver.close());
    const worker = await startMiniflareWorker({
      bindings: {
        K3S_SERVER_URL: 'https://k3s.example.test:6443',
        CLUSTER_API_URL: cluster.url,
        CLUSTER_SA_TOKEN: cluster.serviceAccountToken,
        CLUSTER_CA_PEM: cluster.caPem,
        ADMIN_TOKEN: TEST_ADMIN_TOKEN,
        FLEET_WEBHOOK_SECRET: TEST_FLEET_WEBHOOK_SECRET,
        EVENTS_WEBHOOK_SECRET: 'test-events-webhook-secret-0123456789',
        JWT_ISSUERS: JSON.stringify([{ issuer: issuer.issuer, jwks: issuer.jwks, audience: 'k3s-enroll', machineIdClaim: 'machine_id' }]),
        EVENTS_WEBHOOK_URL: `${receiver.url}/events`,
      },
      trustedCaPem: cluster.caPem,
      ...(opts.dropLog ? { dropLog: opts.dropLog } : {}),
    });
    stops.push(() => worker.close());
    return { worker, cluster: { url: cluster.url, caPem: cluster.caPem, serviceAccountToken: cluster.serviceAccountToken }, close };
  } catch (err) {
    await close();
    throw err;
  }
}
