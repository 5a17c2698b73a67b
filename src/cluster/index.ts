// Public surface of src/cluster: the Kubernetes API client this service needs, fetch injected.
import { createBootstrapTokenStore } from './bootstrap-tokens.ts';
import { createClusterCA, type CaHashMode } from './cluster-ca.ts';
import { createKubeHttp, type KubeHttpOptions } from './kube-http.ts';
import { createNodeClient } from './nodes.ts';
import { rotateServerToken } from './supervisor.ts';
import type { BootstrapToken } from '../token/index.ts';
import { UNGOVERNED, type WriteGate } from './write-governor.ts';

export { KubeApiError, KubeNetworkError, createKubeHttp, KUBE_TIMEOUT_DEFAULT_MS, type KubeHttp, type KubeHttpOptions } from './kube-http.ts';
export { AmbiguousCreateError, createBootstrapTokenStore, possiblyLandedTokenIds, toInfo, CREATE_ID_ATTEMPTS, CREATE_RESENDS, type BootstrapTokenInfo, type BootstrapTokenStore, type MintRequest, type MintedToken } from './bootstrap-tokens.ts';
export { createClusterCA, hashForMode, type CaHashMode } from './cluster-ca.ts';
export { rotateServerToken } from './supervisor.ts';
export { createNodeClient, lines, nodePasswordSecretName, parseWatchEvent, summarizeNode, WatchExpiredError, NODE_LIST_PAGE_SIZE, NODE_WATCH_TIMEOUT_SECONDS, type NodeClient, type NodeObject, type NodeTaint, type NodeWatchEvent } from './nodes.ts';
export {
  allocateSlots,
  busyRetryAfterSeconds,
  ClusterBusyError,
  CLUSTER_MAX_WRITES_PER_SECOND_DEFAULT,
  createBatchedWriteGate,
  createLocalSlotSource,
  ADMIT_IN_FLIGHT_MIN,
  ADMIT_IN_FLIGHT_MS,
  admissionLimit,
  CREATE_HORIZON_MS,
  DELETE_HORIZON_MS,
  FORGET_AFTER_MS,
  LATE_RESLOTS_MAX,
  PACE_FRACTION,
  SEND_WINDOW_MS,
  sendOnSlot,
  SLOT_LATE_MS,
  UNGOVERNED,
  type GovernorSchedule,
  type SlotGrant,
  type SlotRequest,
  type SlotSource,
  type WriteGate,
  type WriteKind,
  type WriteSlot,
} from './write-governor.ts';

export interface ClusterClientOptions extends KubeHttpOptions {
  readonly caPem: string | null;
  readonly caHash: string | null;
  readonly caHashMode: CaHashMode;
  readonly generate?: () => BootstrapToken;
  /** The cluster write governor (createBatchedWriteGate); none = unpaced. */
  readonly gate?: WriteGate;
}

export function createClusterClient(options: ClusterClientOptions) {
  const http = createKubeHttp(options);
  const tokens = createBootstrapTokenStore(http, { now: options.now, ...(options.generate ? { generate: options.generate } : {}), ...(options.gate ? { gate: options.gate } : {}) });
  const ca = createClusterCA(http, { caPem: options.caPem, caHash: options.caHash, mode: options.caHashMode, now: options.now });
  return {
    tokens,
    ca,
    nodes: createNodeClient(http, options.gate ? { gate: options.gate } : {}),
    /** The write governor every Secret create and delete is paced through (tokens, node passwords). */
    gate: options.gate ?? UNGOVERNED,
    rotateServerToken: (input: { token: string; newToken?: string }) => rotateServerToken(http, input),
  };
}

export type ClusterClient = ReturnType<typeof createClusterClient>;
