// The clusters a differential test runs against: always the dev cluster, and the oracle (a real
// kube-apiserver + etcd + the controller manager's token cleaner, built by test/oracle/build.mjs)
// where its binary is built — or, with ORACLE_BUILD=1, built now. Each target hands back the same
// handle, so one test body asserts the same outcome on both.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// @ts-expect-error: plain JavaScript module with JSDoc types
import { startDevCluster } from '../../scripts/dev-cluster/index.mjs';
// @ts-expect-error: plain JavaScript module with JSDoc types
import { buildOracle, oracleBinaryPath } from '../oracle/build.mjs';
// @ts-expect-error: plain JavaScript module with JSDoc types
import { startOracle } from '../oracle/harness.mjs';

export type TargetKind = 'dev-cluster' | 'kube-apiserver';
export interface ClusterHandle {
  /** <stateDir>/tls holds server-ca.crt and client-ca.crt/.key on both targets. */
  stateDir: string;
  url: string;
  caFile: string;
  caPem: string;
  serviceAccountToken: string;
  readonlyServiceAccountToken: string;
  close(): Promise<void>;
}
export interface ClusterTarget {
  name: string;
  kind: TargetKind;
  /** Why this target does not run here (printed), or null. */
  skip: string | null;
  start(): Promise<ClusterHandle>;
}

/** Why the oracle cannot run here, or null with its binary path. */
export function oracleStatus(): { binary: string | null; reason: string | null } {
  const bin = oracleBinaryPath() as string | null;
  if (!bin) return { binary: null, reason: '`go` is not installed' };
  if (spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' }).status !== 0) return { binary: null, reason: 'kubectl (which applies docs/real-cluster.md to it) is not installed' };
  if (existsSync(bin)) return { binary: bin, reason: null };
  if (process.env.ORACLE_BUILD === '1') {
    try {
      return { binary: (buildOracle() as { path: string }).path, reason: null };
    } catch (e) {
      return { binary: null, reason: `the build failed: ${(e as Error).message}` };
    }
  }
  return { binary: null, reason: `not built (${bin}); run \`npm run oracle:build\` or set ORACLE_BUILD=1` };
}

function withStateDir<T extends { close(): Promise<void> }>(prefix: string, start: (dir: string) => Promise<T>) {
  return async (): Promise<T> => {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    let h: T;
    try {
      h = await start(dir);
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
    return { ...h, stateDir: dir, close: async () => {
      await h.close();
      rmSync(dir, { recursive: true, force: true });
    } };
  };
}

export function clusterTargets(): ClusterTarget[] {
  const oracle = oracleStatus();
  if (oracle.reason) {
    // CI (.ci/run) builds the oracle and sets ORACLE_REQUIRED=1: there a missing oracle fails the run.
    if (process.env.ORACLE_REQUIRED === '1') throw new Error(`ORACLE_REQUIRED=1 but the oracle cannot run: ${oracle.reason}`);
    console.log(`oracle (real kube-apiserver) skipped: ${oracle.reason}`);
  }
  return [
    { name: 'dev-cluster', kind: 'dev-cluster', skip: null, start: withStateDir('diff-devcluster-', (stateDir) => startDevCluster({ port: 0, stateDir, tokenCleanerIntervalMs: 100 })) },
    { name: 'kube-apiserver (oracle)', kind: 'kube-apiserver', skip: oracle.reason, start: withStateDir('diff-oracle-', (stateDir) => startOracle({ binary: oracle.binary, stateDir })) },
  ];
}
