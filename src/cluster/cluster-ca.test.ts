// The CA pin against what the cluster serves at /cacerts (issue 14 item 17): a pin whose K10 hash
// is not the hash of /cacerts is `misconfigured` naming the variable, never a hash to mint with.
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { describe, expect, it } from 'vitest';
import vectors from '../../test/vectors/ca-hash.json' with { type: 'json' };
import { parseConfig } from '../config.ts';
import { ConfigError } from '../errors.ts';
import { createClusterCA } from './cluster-ca.ts';
import { createKubeHttp } from './kube-http.ts';

const SERVED = vectors.certificates.root; // ends with exactly one "\n", as k3s serves it
const hex = (s: string) => bytesToHex(sha256(new TextEncoder().encode(s)));

function cluster(answer: () => Response, source: { caPem?: string | null; caHash?: string | null }, clock = { t: Date.parse('2026-06-01T00:00:00Z') }) {
  const paths: string[] = [];
  const fetch = (async (url: string) => {
    const path = new URL(url).pathname;
    paths.push(path);
    if (path === '/cacerts') return answer();
    if (path === '/api/v1/namespaces/kube-system/configmaps/kube-root-ca.crt') return new Response(JSON.stringify({ data: { 'ca.crt': SERVED } }));
    return new Response('{}', { status: 404 });
  }) as unknown as typeof globalThis.fetch;
  const now = () => new Date(clock.t);
  const http = createKubeHttp({ baseUrl: 'https://api.test', bearer: 'sa', fetch, now, sleep: async () => {} });
  return { ca: createClusterCA(http, { caPem: source.caPem ?? null, caHash: source.caHash ?? null, mode: 'pem', now }), paths };
}

async function misconfigured(p: Promise<unknown>): Promise<ConfigError> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(ConfigError);
  return err as ConfigError;
}

describe('cluster CA pin checked against /cacerts', () => {
  it('a PEM pin equal to /cacerts gives the hash of the bytes served', async () => {
    const { ca, paths } = cluster(() => new Response(SERVED), { caPem: SERVED });
    expect(await ca.caHash()).toBe(hex(SERVED));
    expect(paths).toEqual(['/cacerts']);
  });

  it('a PEM pin without its final newline is misconfigured (CLUSTER_CA_PEM), not a hash no agent accepts', async () => {
    const { ca } = cluster(() => new Response(SERVED), { caPem: SERVED.trimEnd() });
    const err = await misconfigured(ca.caHash());
    expect(err.code).toBe('misconfigured');
    expect(err.variables).toEqual(['CLUSTER_CA_PEM']);
    expect(`${err.message} ${err.reason}`).not.toContain(hex(SERVED.trimEnd()));
  });

  it('parseConfig restores the final newline, so `"$(cat server-ca.crt)"` works and matches /cacerts', async () => {
    const vars = { K3S_SERVER_URL: 'https://k3s.example.com:6443', CLUSTER_API_URL: 'https://api.test', CLUSTER_SA_TOKEN: 'sa', ADMIN_TOKEN: 'admin-token-0123456789' };
    expect(parseConfig({ ...vars, CLUSTER_CA_PEM: SERVED.trimEnd() }).clusterCaPem).toBe(SERVED);
    expect(parseConfig({ ...vars, CLUSTER_CA_PEM: `${SERVED}\n\n  ` }).clusterCaPem).toBe(SERVED);
    expect(parseConfig({ ...vars, CLUSTER_CA_PEM: SERVED }).clusterCaPem).toBe(SERVED);
    const { ca } = cluster(() => new Response(SERVED), { caPem: parseConfig({ ...vars, CLUSTER_CA_PEM: SERVED.trimEnd() }).clusterCaPem });
    expect(await ca.caHash()).toBe(hex(SERVED));
  });

  it('a CLUSTER_CA_HASH that is not the hash of /cacerts is misconfigured naming CLUSTER_CA_HASH', async () => {
    const { ca } = cluster(() => new Response(SERVED), { caHash: 'a'.repeat(64) });
    expect((await misconfigured(ca.caHash())).variables).toEqual(['CLUSTER_CA_HASH']);
    const ok = cluster(() => new Response(SERVED), { caHash: hex(SERVED) });
    expect(await ok.ca.caHash()).toBe(hex(SERVED));
  });

  it('a mismatch is not cached: once the pin is fixed upstream (CA back), the next call succeeds', async () => {
    let served = `${SERVED}\n`;
    const { ca } = cluster(() => new Response(served), { caPem: SERVED });
    await misconfigured(ca.caHash());
    served = SERVED;
    expect(await ca.caHash()).toBe(hex(SERVED));
  });

  it('re-checks after the interval (a rotated cluster CA is noticed)', async () => {
    let served = SERVED;
    const clock = { t: Date.parse('2026-06-01T00:00:00Z') };
    const { ca } = cluster(() => new Response(served), { caPem: SERVED }, clock);
    expect(await ca.caHash()).toBe(hex(SERVED));
    served = vectors.certificates.intermediate + vectors.certificates.root;
    expect(await ca.caHash()).toBe(hex(SERVED)); // within the interval: cached
    clock.t += 11 * 60_000;
    await misconfigured(ca.caHash());
  });

  it('a cluster that does not serve /cacerts (404: not k3s, or a proxy) keeps the pin unchecked', async () => {
    const { ca } = cluster(() => new Response('not found', { status: 404 }), { caPem: SERVED });
    expect(await ca.caHash()).toBe(hex(SERVED));
  });

  it('without a pin, kube-root-ca.crt is checked against /cacerts too', async () => {
    const { ca } = cluster(() => new Response(`${SERVED}x`), {});
    expect((await misconfigured(ca.caHash())).variables).toEqual(['CLUSTER_CA_PEM']);
  });
});
