// The cluster CA and its K10 hash: from CLUSTER_CA_HASH, or hashed from CLUSTER_CA_PEM (the exact
// bytes /cacerts serves), or read from kube-system/kube-root-ca.crt. Cached per client.
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { UpstreamError } from '../errors.ts';
import { hashClusterCA, parseBundleCertificates } from '../token/index.ts';
import type { KubeHttp } from './kube-http.ts';

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
  let hash: Promise<string> | null = source.caHash ? Promise.resolve(source.caHash) : null;

  async function readRootCA(): Promise<string> {
    const res = await http.request<{ data?: Record<string, string> }>('GET', '/api/v1/namespaces/kube-system/configmaps/kube-root-ca.crt', 'get configmaps');
    const pem = res.body.data?.['ca.crt'];
    if (typeof pem !== 'string' || pem === '') throw new UpstreamError('kube-root-ca.crt has no ca.crt', { retryable: false });
    return pem;
  }

  return {
    /** The K10 hash joiners will compare against what /cacerts serves. */
    caHash(): Promise<string> {
      if (!hash) {
        const pending = (async () => hashForMode(source.caPem ?? (await readRootCA()), source.mode, source.now))();
        // A failed read must not poison the cache.
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
