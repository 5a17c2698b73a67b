#!/usr/bin/env node
// `npm test`: type-check, bundle the Worker as `wrangler deploy` would (dry run), then every vitest
// project (workerd integration, Node unit + dev cluster + e2e, the oracle suites) and the VM test.
// Ends with ONE summary line `N passed, N failed` that CI reads; the static checks count as one
// test each. Before it, a table of how long each phase took.
//
// What runs beside what (2-core machines): the static checks run together (each is short and
// mostly single-threaded); the oracle's Go build and the VM image (both cached across runs, both
// cold on a fresh machine) build in the background under `nice -n 19` from the start, so they use
// only the CPU the tests leave idle; the oracle suites wait for the oracle, the VM test for its
// image. The vitest projects and the VM test never overlap: the Node project starts real servers
// (wrangler dev, swtpm, Chromium) and the VM boots under TCG, and sharing the CPU between them
// makes their timeouts flaky.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { missingTools as missingVmTools } from '../test/vm/image.mjs';

const env = { ...process.env, WRANGLER_SEND_METRICS: 'false', DENO_NO_UPDATE_CHECK: '1', NO_COLOR: process.env.NO_COLOR ?? '' };
const extra = process.argv.slice(2);
const t0 = Date.now();
const since = (t) => (Date.now() - t) / 1000;
/** @type {Array<[string, number]>} */
const phases = [];
let passed = 0;
let failed = 0;

/** Runs a command; output inherited, or captured and returned when `capture`. */
function run(cmd, args, { capture = false, extraEnv = {} } = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: capture ? ['ignore', 'pipe', 'pipe'] : 'inherit', env: { ...env, ...extraEnv } });
    let out = '';
    if (capture) {
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
    }
    child.on('error', (err) => (out += `${err.message}\n`));
    child.on('close', (code, signal) => resolve({ code, signal, out }));
  });
}

async function phase(name, fn) {
  const start = Date.now();
  process.stdout.write(`\n== [${since(t0).toFixed(0)} s] ${name}\n`);
  const r = await fn();
  phases.push([name, since(start)]);
  return r;
}

/** A cache build in the background, niced, its output kept in a file and shown when awaited. */
function background(name, script) {
  const dir = mkdtempSync(join(tmpdir(), 'k3s-enroll-test-'));
  const logFile = join(dir, 'log');
  const fd = openSync(logFile, 'w');
  const start = Date.now();
  const child = spawn('nice', ['-n', '19', process.execPath, script], { stdio: ['ignore', fd, fd], env });
  closeSync(fd);
  const done = new Promise((resolve) => {
    child.on('error', () => resolve(null));
    child.on('close', (code) => resolve({ code, seconds: since(start) }));
  });
  return {
    async wait() {
      const r = await done;
      const log = existsSync(logFile) ? readFileSync(logFile, 'utf8').trim() : '';
      rmSync(dir, { recursive: true, force: true });
      process.stdout.write(`== ${name}: ${r ? `exit ${r.code} after ${r.seconds.toFixed(0)} s in the background` : 'did not start'}\n${log ? `${log}\n` : ''}`);
    },
  };
}

function count(name, r) {
  const ok = r.code === 0;
  ok ? passed++ : failed++;
  process.stdout.write(`${r.out ?? ''}== ${name}: ${ok ? 'ok' : `FAILED (exit ${r.code ?? r.signal})`}\n`);
}

async function vitest(label, args, extraEnv = {}) {
  const report = join(mkdtempSync(join(tmpdir(), 'k3s-enroll-vitest-')), 'report.json');
  // A project that matches no test file fails the run, unless a command-line filter narrowed it.
  const v = await run('npx', ['vitest', 'run', ...args, ...(extra.length > 0 ? ['--passWithNoTests'] : []), '--reporter=default', '--reporter=json', `--outputFile=${report}`, ...extra], { extraEnv });
  if (existsSync(report)) {
    const r = JSON.parse(readFileSync(report, 'utf8'));
    passed += r.numPassedTests;
    failed += r.numFailedTests;
    // A suite that failed to load has no failed tests but must still fail the run.
    const brokenSuites = (r.testResults ?? []).filter((t) => t.status === 'failed' && t.assertionResults.every((a) => a.status !== 'failed')).length;
    failed += brokenSuites;
    if (v.code !== 0 && r.numFailedTests === 0 && brokenSuites === 0) failed++;
  } else {
    process.stdout.write(`== ${label}: no report (exit ${v.code ?? v.signal})\n`);
    failed++;
  }
  rmSync(join(report, '..'), { recursive: true, force: true });
}

// The oracle is built where a run requires it (CI: ORACLE_REQUIRED=1, set by .ci/run where Go is
// installed); elsewhere its suites use it if already built, as before.
const hasGo = spawnSync('go', ['version'], { stdio: 'ignore' }).status === 0;
const oracleBuild = hasGo && process.env.ORACLE_REQUIRED === '1' ? background('oracle build (test/oracle/build.mjs)', 'test/oracle/build.mjs') : null;
const vmImage = missingVmTools().length === 0 ? background('vm image (test/vm/image.mjs)', 'test/vm/image.mjs') : null;

// The dry-run bundle goes to a directory of this run's own: the route walk (test/e2e/route-walk.test.ts)
// serves it in Miniflare instead of bundling again.
const bundleDir = mkdtempSync(join(tmpdir(), 'k3s-enroll-dist-'));
await phase('static checks (together)', async () => {
  const checks = [
    ['typecheck', 'npx', ['tsc', '-p', 'tsconfig.json']],
    ['typecheck domain (no runtime types)', 'npx', ['tsc', '-p', 'tsconfig.domain.json']],
    ['typecheck workerd tests', 'npx', ['tsc', '-p', 'test/tsconfig.json']],
    ['typecheck node tests', 'npx', ['tsc', '-p', 'tsconfig.node-tests.json']],
    ['deno check (Deno entry)', 'npx', ['deno', 'check', '--unstable-kv', 'src/deno.ts']],
    ['wrangler deploy --dry-run', 'npx', ['wrangler', 'deploy', '--dry-run', '--outdir', bundleDir, '--minify']],
  ];
  const results = await Promise.all(checks.map(async ([name, cmd, args]) => {
    const start = Date.now();
    const r = await run(cmd, args, { capture: true });
    return { name, cmd, args, r, seconds: since(start) };
  }));
  for (const { name, cmd, args, r, seconds } of results) {
    process.stdout.write(`\n== ${name}: ${cmd} ${args.join(' ')} (${seconds.toFixed(1)} s)\n`);
    count(name, r);
  }
});
const bundleOk = existsSync(join(bundleDir, 'index.js'));

await phase('vitest --project workers', () => vitest('workers', ['--project', 'workers']));
await phase('vitest --project node (all but the oracle suites)', () => vitest('node', ['--project', 'node', '--exclude', 'test/oracle/**'], bundleOk ? { WORKER_BUNDLE_DIR: bundleDir } : {}));
await phase('oracle build: waiting for it', () => oracleBuild?.wait());
// The node project's other folders excluded (not a path filter, which would add to the caller's filters).
await phase('vitest --project node: the oracle suites (test/oracle)', () => vitest('node oracle', ['--project', 'node', '--exclude', 'src/**', '--exclude', 'scripts/**', '--exclude', 'test/e2e/**']));
rmSync(bundleDir, { recursive: true, force: true });

// The first-boot VM test (test/vm/run.mjs, also `npm run test:vm`): a Debian image booted under
// qemu with a swtpm TPM enrolls through deploy/first-boot. Exit 77: tools missing, skipped.
await phase('vm image: waiting for it', () => vmImage?.wait());
await phase('vm first boot: node test/vm/run.mjs', async () => {
  const r = await run(process.execPath, ['test/vm/run.mjs']);
  if (r.code === 77) process.stdout.write('== vm first boot: skipped (see the reason above)\n');
  else count('vm first boot', r);
});

process.stdout.write(`\n== timings (s), total ${since(t0).toFixed(0)}\n${phases.map(([n, s]) => `${s.toFixed(1).padStart(8)}  ${n}`).join('\n')}\n`);
console.log(`\n${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
