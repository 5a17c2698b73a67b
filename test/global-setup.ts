// Starts one dev cluster (and a JWKS-serving identity provider stand-in for JWT tests) for the
// workerd project and hands their coordinates to vitest.config.ts through `provide`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
// @ts-expect-error: plain JavaScript module with JSDoc types
import { startDevCluster } from '../scripts/dev-cluster/index.mjs';
import { startEventsReceiver } from './support/events-receiver.ts';
import type { DevClusterInfo } from './support/dev-cluster-info.ts';
import { startTestIssuer } from './support/test-issuer.ts';

export type { DevClusterInfo };

declare module 'vitest' {
  export interface ProvidedContext {
    devCluster: DevClusterInfo;
  }
}

export default async function setup(project: TestProject) {
  const stateDir = mkdtempSync(join(tmpdir(), 'k3s-enroll-devcluster-'));
  const cluster = await startDevCluster({ port: 0, stateDir, tokenCleanerIntervalMs: 500 });
  const issuer = await startTestIssuer();
  const receiver = await startEventsReceiver('test-events-webhook-secret-0123456789');
  project.provide('devCluster', {
    url: cluster.url,
    caPem: cluster.caPem,
    serviceAccountToken: cluster.serviceAccountToken,
    readonlyServiceAccountToken: cluster.readonlyServiceAccountToken,
    serverToken: cluster.serverToken,
    controlToken: cluster.controlToken,
    issuerUrl: issuer.url,
    issuerPrivateKeys: JSON.stringify(issuer.privateKeys),
    eventsUrl: receiver.url,
    jwtIssuers: JSON.stringify([{ issuer: issuer.issuer, jwks: issuer.jwks, audience: 'k3s-enroll', machineIdClaim: 'machine_id' }]),
  });
  return async () => {
    await issuer.close();
    await receiver.close();
    await cluster.close();
    rmSync(stateDir, { recursive: true, force: true });
  };
}
