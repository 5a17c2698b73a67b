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
