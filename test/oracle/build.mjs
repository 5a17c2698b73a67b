#!/usr/bin/env node
// @ts-check
// Builds the oracle (test/oracle: etcd + kube-apiserver + two controller-manager controllers, from
// the Go modules pinned in go.mod/go.sum) into ~/.cache/k3s-enroll/oracle/<pin hash>/oracle with
// the ordinary `go` client. Nothing of their source is committed; the hash covers go.mod, go.sum,
// our .go files and `go version`, so a changed pin builds afresh and an unchanged one is reused.
//
//   node test/oracle/build.mjs            build unless cached; prints the path and the build time
//   node test/oracle/build.mjs --path     print the cached binary's path, or exit 1 if not built
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** `go version`, or null where Go is missing. */
export function goVersion() {
  const r = spawnSync('go', ['version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** @param {string} goVer */
export function pinHash(goVer) {
  const h = createHash('sha256');
  for (const f of ['go.mod', 'go.sum', ...readdirSync(here).filter((f) => f.endsWith('.go')).sort()]) h.update(`${f}\0`).update(readFileSync(join(here, f))).update('\0');
  h.update(goVer);
  return h.digest('hex').slice(0, 16);
}

/** Where the binary for this pin lives (whether or not it is built yet), or null without Go. */
export function oracleBinaryPath() {
  const goVer = goVersion();
  if (!goVer) return null;
  const root = process.env.ORACLE_CACHE_DIR ?? join(homedir(), '.cache', 'k3s-enroll', 'oracle');
  return join(root, pinHash(goVer), 'oracle');
}

/** Builds the binary unless cached. @returns {{ path: string, seconds: number, cached: boolean }} */
export function buildOracle({ log = (/** @type {string} */ s) => process.stderr.write(`${s}\n`) } = {}) {
  const bin = oracleBinaryPath();
  if (!bin) throw new Error('go is not installed');
  if (existsSync(bin)) return { path: bin, seconds: 0, cached: true };
  mkdirSync(dirname(bin), { recursive: true });
  log(`oracle: building ${bin} (kube-apiserver ${readFileSync(join(here, 'go.mod'), 'utf8').match(/k8s\.io\/kubernetes (v\S+)/)?.[1]}, etcd, controllers) under nice -n 10 …`);
  const t0 = process.hrtime.bigint();
  // -mod=readonly: go.sum is the pin; a build never rewrites it. CGO as the machine's default
  // (changing it would key every package anew in the Go build cache).
  const env = { ...process.env, GOFLAGS: '-mod=readonly -trimpath -buildvcs=false' };
  const r = spawnSync('nice', ['-n', '10', 'go', 'build', '-o', `${bin}.tmp`, '.'], { cwd: here, env, stdio: ['ignore', 'inherit', 'inherit'] });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`oracle: go build failed (exit ${r.status ?? r.signal}) after ${seconds.toFixed(0)} s`);
  renameSync(`${bin}.tmp`, bin);
  log(`oracle: built in ${seconds.toFixed(0)} s`);
  return { path: bin, seconds, cached: false };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (process.argv.includes('--path')) {
    const bin = oracleBinaryPath();
    if (!bin || !existsSync(bin)) process.exit(1);
    console.log(bin);
  } else {
    const r = buildOracle();
    console.log(`${r.path} (${r.cached ? 'cached' : `cold build ${r.seconds.toFixed(0)} s`})`);
  }
}
