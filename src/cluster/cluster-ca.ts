// The cluster CA and its K10 hash: from CLUSTER_CA_HASH, or hashed from CLUSTER_CA_PEM (the exact
// bytes /cacerts serves), or read from kube-system/kube-root-ca.crt. Before the hash is used it is
// compared with the hash of what the cluster itself serves at /cacerts (unauthenticated on the
// supervisor port, which is the API port in k3s): a pin no agent would accept is `misconfigured`,
// never a token. Cached per client; re-checked every CA_CHECK_INTERVAL_MS.
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { ConfigError, UpstreamError } from '../errors.ts';
import { hashClusterCA, parseBundleCertificates } from '../token/index.ts';
import { KubeApiError, type KubeHttp } from './kube-http.ts';

/** How long a hash that matched /cacerts is trusted before it is compared again (CA rotation). */
export const CA_CHECK_INTERVAL_MS = 10 * 60_000;

export type CaHashMode = 'pem' | 'der-root';

export interface ClusterCASource {
  readonly caPem: string | null;
  readonly caHash: string | null;
  readonly mode: CaHashMode;
  readonly now: () => Date;
}

/** `pem`: k3s hashCA over the bundle. `der-root`: SHA-256 of the DER of the last certificate (the custom root). */
export async function hashForMode(pem: string, mode: CaHashMode, now: () => Date): Promise<string> {
  if (mode === 'pem') return hashClusterCA(pem, { now });
  const certs = parseBundleCertificates(new TextEncoder().encode(pem));
  return bytesToHex(sha256(certs[certs.length - 1]!.der));
}

export function createClusterCA(http: KubeHttp, source: ClusterCASource) {
  let hash: Promise<string> | null = null;

  async function readRootCA(): Promise<string> {
    const res = await http.request<{ data?: Record<string, string> }>('GET', '/api/v1/namespaces/kube-system/configmaps/kube-root-ca.crt', 'get configmaps');
    const pem = res.body.data?.['ca.crt'];
    if (typeof pem !== 'string' || pem === '') throw new UpstreamError('kube-root-ca.crt has no ca.crt', { retryable: false });
    return pem;
  }

  /** The hash of /cacerts as served, or null where the cluster does not serve it (not k3s, or a proxy in front). */
  async function servedHash(): Promise<string | null> {
    let res;
    try {
      res = await http.request<string>('GET', '/cacerts', 'get /cacerts', { raw: true });
    } catch (err) {
      if (err instanceof KubeApiError && err.status >= 400 && err.status < 500) return null;
      throw err;
    }
    return hashForMode(res.body, source.mode, source.now);
  }

  async function checkedHash(): Promise<string> {
    const pinned = source.caHash ?? (await hashForMode(source.caPem ?? (await readRootCA()), source.mode, source.now));
    const actual = await servedHash();
    if (actual !== null && actual !== pinned) {
      const variable = source.caHash ? 'CLUSTER_CA_HASH' : 'CLUSTER_CA_PEM';
      throw new ConfigError([{ variable, problem: 'its K10 hash is not the hash of the CA bundle the cluster serves at /cacerts: agents would refuse every token' }]);
    }
    return pinned;
  }

  let checkedAt = 0;
  return {
    /** The K10 hash joiners will compare against what /cacerts serves, checked against it. */
    caHash(): Promise<string> {
      const now = source.now().getTime();
      if (!hash || now - checkedAt > CA_CHECK_INTERVAL_MS) {
        const pending = checkedHash();
        checkedAt = now;
        // A failed read or a mismatch must not poison the cache.
        pending.catch(() => {
          if (hash === pending) hash = null;
        });
        hash = pending;
      }
      return hash;
    },
    readRootCA,
  };
}
