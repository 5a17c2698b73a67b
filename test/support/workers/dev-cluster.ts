// Test helpers that talk to the dev cluster from inside workerd over real HTTPS (its CA is trusted
// through the pool's outbound TLS options): authenticate a token, list Secrets, inject faults.
import { env } from 'cloudflare:test';
import type { DevClusterInfo } from '../dev-cluster-info.ts';

export type DevCluster = DevClusterInfo;

export const cluster: DevCluster = JSON.parse(env.DEV_CLUSTER);

export async function whoAmI(bearer: string): Promise<{ status: number; username?: string; groups?: string[] }> {
  const res = await fetch(`${cluster.url}/apis/authentication.k8s.io/v1/selfsubjectreviews`, {
    method: 'POST',
    headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
    body: JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' }),
  });
  if (res.status !== 201) {
    await res.body?.cancel();
    return { status: res.status };
  }
  const body = (await res.json()) as { status: { userInfo: { username: string; groups: string[] } } };
  return { status: 201, username: body.status.userInfo.username, groups: body.status.userInfo.groups };
}

export async function bootstrapSecrets(labelSelector?: string): Promise<Array<{ metadata: { name: string; labels?: Record<string, string>; uid: string }; data: Record<string, string> }>> {
  const q = new URLSearchParams({ fieldSelector: 'type=bootstrap.kubernetes.io/token' });
  if (labelSelector) q.set('labelSelector', labelSelector);
  const res = await fetch(`${cluster.url}/api/v1/namespaces/kube-system/secrets?${q}`, { headers: { authorization: `Bearer ${cluster.serviceAccountToken}` } });
  if (res.status !== 200) throw new Error(`list secrets: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { items: never[] }).items;
}

export async function cacerts(): Promise<Uint8Array> {
  const res = await fetch(`${cluster.url}/cacerts`);
  return new Uint8Array(await res.arrayBuffer());
}

/** The dev cluster's log of the requests it answered (the last 500). */
export async function devRequests(): Promise<Array<{ method: string; path: string; status: number }>> {
  const res = await fetch(`${cluster.url}/__dev/requests`, { headers: { 'x-dev-cluster-control': cluster.controlToken } });
  if (res.status !== 200) throw new Error(`requests: ${res.status} ${await res.text()}`);
  return (await res.json()) as Array<{ method: string; path: string; status: number }>;
}

async function control(method: string, path: string, body?: unknown): Promise<void> {
  const res = await fetch(`${cluster.url}${path}`, {
    method,
    headers: { 'x-dev-cluster-control': cluster.controlToken, 'content-type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  await res.body?.cancel();
}

export type FaultMode = 'status' | 'hang' | 'drop' | 'conflict' | 'status-after-write';
export const fault = (f: { method: string; pathPrefix: string; mode: FaultMode; status?: number; times?: number }) => control('POST', '/__dev/faults', { times: 1, ...f });
export const clearFaults = () => control('DELETE', '/__dev/faults');
export const setClockOffset = (offsetSeconds: number) => control('PUT', '/__dev/clock', { offsetSeconds });
