#!/usr/bin/env node
// `npm run mutation [-- <stryker options>]`: Stryker over the domain rules (stryker.config.mjs), then
// one line per file with its mutation score; exits 1 when a file scores under MUTATION_MIN (85).
// Stryker needs Node >= 22: it runs on the node@22 binary of tools/node22 (installed here on first
// use), never replacing the project's Node 20. Not part of `npm test`: a full run takes hours on a
// shared 2-core machine, mostly static mutants (docs/testing.md, Measured).
// While working on one file: `npm run mutation -- --mutate src/attest/code.ts --incremental`.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const toolDir = resolve(root, 'tools/node22');
const node22 = resolve(toolDir, 'node_modules/node/bin/node');
const stryker = resolve(root, 'node_modules/@stryker-mutator/core/bin/stryker.js');
const report = resolve(root, 'reports/mutation/mutation.json');
const MIN = Number(process.env.MUTATION_MIN ?? 85);

if (!existsSync(node22)) {
  process.stdout.write('mutation: installing Node 22 for Stryker into tools/node22\n');
  const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: toolDir, stdio: 'inherit' });
  if (r.status !== 0 || !existsSync(node22)) process.exit(r.status || 1);
}

const started = Date.now();
// Property tests rerun for every mutant they reach: fewer runs each here (FC_RUNS overrides).
const env = { ...process.env, FC_RUNS: process.env.FC_RUNS ?? '50' };
const run = spawnSync(node22, [stryker, 'run', ...process.argv.slice(2)], { cwd: root, stdio: 'inherit', env });
const seconds = Math.round((Date.now() - started) / 1000);
if (run.status !== 0 || !existsSync(report)) {
  process.stdout.write(`mutation: stryker exited ${run.status ?? run.signal}\n`);
  process.exit(run.status || 1);
}

// Score as Stryker counts it: detected (killed, timed out) over detected + undetected (survived,
// no coverage); compile and runtime errors and ignored mutants are left out.
const { files } = JSON.parse(readFileSync(report, 'utf8'));
const rows = Object.entries(files)
  .map(([path, { mutants }]) => {
    const n = (s) => mutants.filter((m) => m.status === s).length;
    const detected = n('Killed') + n('Timeout');
    const undetected = n('Survived') + n('NoCoverage');
    const score = detected + undetected === 0 ? 100 : (100 * detected) / (detected + undetected);
    return { file: relative(root, resolve(root, path)), total: detected + undetected, survived: undetected, score };
  })
  .sort((a, b) => a.file.localeCompare(b.file));
const low = rows.filter((r) => r.score < MIN);
const width = Math.max(...rows.map((r) => r.file.length));
process.stdout.write(`\nmutation score per file (minimum ${MIN} %), ${seconds} s\n`);
for (const r of rows) {
  process.stdout.write(`${r.file.padEnd(width)}  ${r.score.toFixed(1).padStart(5)} %  ${String(r.total).padStart(4)} mutants  ${String(r.survived).padStart(3)} undetected${r.score < MIN ? '  BELOW' : ''}\n`);
}
process.stdout.write(low.length ? `mutation: ${low.length} file(s) under ${MIN} %\n` : `mutation: every file at or above ${MIN} %\n`);
process.exit(low.length ? 1 : 0);
