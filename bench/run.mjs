#!/usr/bin/env node
// `npm run bench`: prints figures, each beside a baseline measured in the same run, as a ratio.
// Suites: Worker bundle size (vs. a bare Hono worker), token core (vs. the primitive it wraps).
// Enrollment suite: the Worker in workerd against the dev cluster (bench/enroll.bench.mjs).
// Join watch: cluster requests per enrolled machine and join → consume delay vs. polling.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const ROOT = resolve(import.meta.dirname, '..');
// `npm run bench -- storm` runs only the named suites (bundle, token, tpm, enroll, storm); none = all.
const only = process.argv.slice(2);
const wanted = (name) => only.length === 0 || only.includes(name);
const env = { ...process.env, WRANGLER_SEND_METRICS: 'false' };
const tmp = mkdtempSync(join(tmpdir(), 'k3s-enroll-bench-'));

function bundleSize() {
  const out = join(tmp, 'worker');
  const r = spawnSync('npx', ['wrangler', 'deploy', '--dry-run', '--minify', '--outdir', out], { cwd: ROOT, env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`wrangler dry run failed: ${r.stderr}`);
  const code = readFileSync(join(out, 'index.js'));
  return { raw: code.length, gzip: gzipSync(code).length };
}

async function baselineSize() {
  const entry = join(tmp, 'baseline.ts');
  writeFileSync(entry, "import { Hono } from 'hono';\nconst app = new Hono();\napp.get('/healthz', (c) => c.json({ ok: true }));\nexport default app;\n");
  const r = await build({ entryPoints: [entry], bundle: true, minify: true, format: 'esm', write: false, absWorkingDir: ROOT, nodePaths: [join(ROOT, 'node_modules')], platform: 'neutral', mainFields: ['module', 'main'], conditions: ['workerd', 'worker', 'browser'] });
  const code = r.outputFiles[0].contents;
  return { raw: code.length, gzip: gzipSync(code).length };
}

/** The Worker bundle before issue 15, in bytes: main 5005a35 (raw 385.8 KiB, gzip 124.9 KiB). */
const BEFORE_SCHEMAS = { raw: 395_013, gzip: 127_911 };

const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;

if (wanted('bundle')) {
  console.log('# Worker bundle (wrangler deploy --dry-run --minify)');
  const size = bundleSize();
  const base = await baselineSize();
  console.log(`worker           raw ${kib(size.raw).padStart(10)}   gzip ${kib(size.gzip).padStart(9)}`);
  console.log(`baseline (hono)  raw ${kib(base.raw).padStart(10)}   gzip ${kib(base.gzip).padStart(9)}`);
  // Measured with this same command on main 5005a35 (2026-12-01), before the request/response
  // schemas and the OpenAPI document (issue 15: valibot + @valibot/to-json-schema) went in.
  console.log(`before schemas   raw ${kib(BEFORE_SCHEMAS.raw).padStart(10)}   gzip ${kib(BEFORE_SCHEMAS.gzip).padStart(9)}   (issue 15 adds ${kib(size.gzip - BEFORE_SCHEMAS.gzip)} gzip)`);
  console.log(`ratio            raw ${(size.raw / base.raw).toFixed(1)}x      gzip ${(size.gzip / base.gzip).toFixed(1)}x   (Workers limit: 3 MiB gzip free, 10 MiB paid)`);
  // Our own budget (the dashboard included): a cold start on a phone in the field stays small.
  const BUNDLE_BUDGET_GZIP_BYTES = 150 * 1024;
  const within = size.gzip <= BUNDLE_BUDGET_GZIP_BYTES;
  console.log(`budget           gzip ${kib(size.gzip)} of ${kib(BUNDLE_BUDGET_GZIP_BYTES)}: ${within ? 'ok' : 'OVER BUDGET'}`);
  if (!within) process.exitCode = 1;
}

for (const suite of ['bench/token.bench.ts', 'bench/tpm.bench.ts', 'bench/join-watch.bench.ts'].filter((s) => wanted(s.split('/')[1].split('.')[0]))) {
  const outfile = join(ROOT, 'node_modules/.cache/k3s-enroll-bench/suite.mjs'); // beside node_modules so packages resolve
  await build({ entryPoints: [join(ROOT, suite)], bundle: true, format: 'esm', platform: 'node', outfile, absWorkingDir: ROOT, packages: 'external', logLevel: 'error' });
  const r = spawnSync(process.execPath, [outfile], { cwd: ROOT, env, stdio: 'inherit' });
  if (r.status !== 0) process.exitCode = 1;
}
for (const suite of ['bench/enroll.bench.mjs', 'bench/storm.bench.mjs'].filter((s) => wanted(s.split('/')[1].split('.')[0]))) {
  const r = spawnSync(process.execPath, [join(ROOT, suite)], { cwd: ROOT, env, stdio: 'inherit' });
  if (r.status !== 0) process.exitCode = 1;
}
if (wanted('storm')) {
  // The same storm against the Deno entry (in-process governor): skipped, with the reason, only if
  // Deno cannot start here; any other failure fails the run.
  const r = spawnSync(process.execPath, [join(ROOT, 'bench/storm.bench.mjs')], { cwd: ROOT, env: { ...env, STORM_RUNTIME: 'deno', STORM_SCENARIOS: 'distinct' }, stdio: ['ignore', 'inherit', 'pipe'], encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (r.status !== 0) {
    const error = (r.stderr.match(/Error: .*/) ?? [`exit ${r.status ?? r.signal}`])[0];
    const skipped = error.includes('Deno did not start');
    console.log(`\n# boot storm on Deno: ${skipped ? 'skipped' : 'FAILED'} (${error})`);
    if (!skipped) process.exitCode = 1;
  }
}
rmSync(tmp, { recursive: true, force: true });
