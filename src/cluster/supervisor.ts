// The k3s supervisor's server-token rotation, sent exactly as `k3s token rotate` sends it:
// `PUT /v1-k3s/token`, Basic `server:<current password>`, body `{"newToken":"…"}` (always present).
import { AppError } from '../errors.ts';
import { parseJoinToken } from '../token/index.ts';
import { KubeApiError, type KubeHttp } from './kube-http.ts';

export async function rotateServerToken(http: KubeHttp, input: { token: string; newToken?: string }): Promise<void> {
  const current = parseJoinToken(input.token);
  if (current.bootstrap) throw new AppError('invalid_token', 'failed to normalize server token; must be in format K10<CA-HASH>::<USERNAME>:<PASSWORD> or <PASSWORD>');
  const newToken = input.newToken ?? '';
  if (newToken !== '') {
    const next = parseJoinToken(newToken);
    if (next.bootstrap) throw new AppError('invalid_token', 'failed to normalize server token; must be in format K10<CA-HASH>::<USERNAME>:<PASSWORD> or <PASSWORD>');
  }
  const basic = `Basic ${btoa(`server:${current.password}`)}`;
  try {
    await http.request('PUT', '/v1-k3s/token', 'rotate the server token', { body: JSON.stringify({ newToken }), auth: basic, idempotent: false });
  } catch (err) {
    if (err instanceof KubeApiError && (err.status === 401 || err.status === 403)) {
      throw new AppError('forbidden', 'the k3s supervisor rejected the current server token', { reason: `supervisor answered ${err.status}` });
    }
    throw err;
  }
}
