// Public surface of src/cluster: the Kubernetes API client this service needs, fetch injected.
import { createBootstrapTokenStore } from './bootstrap-tokens.ts';
import { createClusterCA, type CaHashMode } from './cluster-ca.ts';
import { createKubeHttp, type KubeHttpOptions } from './kube-http.ts';
import { createNodeClient } from './nodes.ts';
import { rotateServerToken } from './supervisor.ts';
import type { BootstrapToken } from '../token/index.ts';

export { KubeApiError, createKubeHttp, KUBE_TIMEOUT_DEFAULT_MS, type KubeHttp, type KubeHttpOptions } from './kube-http.ts';
export { AmbiguousCreateError, createBootstrapTokenStore, toInfo, CREATE_ID_ATTEMPTS, type BootstrapTokenInfo, type BootstrapTokenStore, type MintRequest, type MintedToken } from './bootstrap-tokens.ts';
export { createClusterCA, hashForMode, type CaHashMode } from './cluster-ca.ts';
export { rotateServerToken } from './supervisor.ts';
export { createNodeClient, lines, nodePasswordSecretName, parseWatchEvent, summarizeNode, WatchExpiredError, NODE_LIST_PAGE_SIZE, NODE_WATCH_TIMEOUT_SECONDS, type NodeClient, type NodeObject, type NodeTaint, type NodeWatchEvent } from './nodes.ts';

export interface ClusterClientOptions extends KubeHttpOptions {
  readonly caPem: string | null;
  readonly caHash: string | null;
  readonly caHashMode: CaHashMode;
  readonly generate?: () => BootstrapToken;
}

export function createClusterClient(options: ClusterClientOptions) {
  const http = createKubeHttp(options);
  const tokens = createBootstrapTokenStore(http, { now: options.now, ...(options.generate ? { generate: options.generate } : {}) });
  const ca = createClusterCA(http, { caPem: options.caPem, caHash: options.caHash, mode: options.caHashMode, now: options.now });
  return {
    tokens,
    ca,
    nodes: createNodeClient(http),
    rotateServerToken: (input: { token: string; newToken?: string }) => rotateServerToken(http, input),
  };
}

export type ClusterClient = ReturnType<typeof createClusterClient>;
