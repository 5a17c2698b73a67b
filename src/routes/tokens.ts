// `k3s token` parity for operators (admin): create, list, delete, generate, and the server-token
// rotate proxied to the k3s supervisor. Same defaults and outputs as the k3s CLI; stricter only
// where the API server would silently accept a token that can never log in (groups, usages).
import { Hono, type Context } from 'hono';
import { servicesOf, type AppEnv } from '../app.ts';
import { AppError } from '../errors.ts';
import { createAdminAuth } from '../http/admin-auth.ts';
import { readJsonObject } from '../http/json-body.ts';
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE } from '../enroll/enroll.ts';
import { parseWith, ServerTokenRotateBody, TOKEN_CREATE_CODES, TokenCreateBody, type TokenCreatedResponse, type TokenListItemResponse } from '../schemas/index.ts';
import {
  DEFAULT_TOKEN_GROUPS,
  formatExpiration,
  formatJoinTokenWithHash,
  generateBootstrapToken,
  isBootstrapTokenId,
  KNOWN_TOKEN_USAGES,
  parseBootstrapToken,
  parseDuration,
  parseJoinToken,
  shortHumanDuration,
  TokenError,
} from '../token/index.ts';

/** A join token, a `<id>.<secret>` pair or a K10 token: anything that may carry a secret. */
export function looksLikeFullToken(v: string): boolean {
  return v.includes('.') || v.includes(':') || /^K10/i.test(v) || v.length > 6;
}

export const K3S_TOKEN_TTL_DEFAULT = '24h';

const now = (c: Context<AppEnv>) => (c.get('deps').now ?? (() => new Date()))();
const audit = (c: Context<AppEnv>, event: string, outcome: 'success' | 'failure', tokenId: string | null, reason: string | null, code: string | null = null) =>
  servicesOf(c)
    .audit.append({ at: now(c).getTime(), event, outcome, machineId: null, method: null, code, reason, tokenId, requestId: c.get('requestId'), actor: c.get('actor'), clientIp: null })
    .catch(() => undefined);

// The use cases behind the routes, shared with the dashboard (src/ui): one implementation each.

/** POST /v1/tokens (= `k3s token create`): the K10 join token is in the answer only. */
export async function createToken(c: Context<AppEnv>, rawBody: unknown): Promise<TokenCreatedResponse> {
  const s = servicesOf(c);
  const body = parseWith(TokenCreateBody, rawBody, { codes: TOKEN_CREATE_CODES });
  const token = body.token === undefined ? undefined : parseBootstrapToken(body.token);
  const ttlMs = parseDuration(body.ttl ?? K3S_TOKEN_TTL_DEFAULT);
  // k3s: a TTL of 0 (or less) writes no expiration: the token never expires.
  const ttlSeconds = ttlMs > 0 ? Math.max(1, Math.round(ttlMs / 1000)) : null;
  const caHash = await s.cluster.ca.caHash();
  try {
    const minted = await s.cluster.tokens.mint({
      ttlSeconds,
      groups: body.groups ?? [...DEFAULT_TOKEN_GROUPS],
      usages: body.usages ?? [...KNOWN_TOKEN_USAGES],
      description: body.description ?? '',
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, 'k3s-enroll.io/source': 'admin' },
      ...(token ? { token } : {}),
    });
    await audit(c, 'token.create', 'success', minted.token.id, null);
    return { token: formatJoinTokenWithHash(caHash, minted.token.token), id: minted.token.id, expiresAt: minted.expiresAt ? formatExpiration(minted.expiresAt) : null };
  } catch (err) {
    // Group and usage rules the API server would not check: the caller's input, not a token.
    const e = err instanceof TokenError ? new AppError('invalid_request', err.message) : err;
    if (e instanceof AppError) await audit(c, 'token.create', 'failure', token?.id ?? null, e.reason, e.code);
    throw e;
  }
}

export type TokenListItem = TokenListItemResponse;

/** GET /v1/tokens (= `k3s token list`), sorted by id. */
export async function listTokens(c: Context<AppEnv>): Promise<TokenListItem[]> {
  const at = now(c).getTime();
  const items = await servicesOf(c).cluster.tokens.list();
  return items
    .sort((a, b) => a.id.localeCompare(b.id))
    .map((t) => ({
      id: t.id,
      description: t.description,
      expires: t.expires ? formatExpiration(t.expires) : null,
      ttl: t.invalidExpiration ? '<invalid>' : t.expires ? shortHumanDuration(t.expires.getTime() - at) : '<forever>',
      usages: [...t.usages],
      groups: [...t.groups],
    }));
}

/** DELETE /v1/tokens/{token} (= `k3s token delete`): by id, or by a full token (its id is used). */
export async function deleteToken(c: Context<AppEnv>, arg: string): Promise<{ id: string; message: string }> {
  let id: string | null = isBootstrapTokenId(arg) ? arg : null;
  if (id === null) {
    try {
      id = parseJoinToken(arg).bootstrap?.id ?? null;
    } catch (err) {
      if (!(err instanceof TokenError)) throw err;
    }
  }
  if (id === null) throw new TokenError('given token didn\'t match pattern "\\\\A([a-z0-9]{6})\\\\z" or "\\\\A([a-z0-9]{6})\\\\.([a-z0-9]{16})\\\\z"');
  const deleted = await servicesOf(c).cluster.tokens.remove(id);
  if (!deleted) {
    await audit(c, 'token.delete', 'failure', id, 'not found', 'not_found');
    throw new AppError('not_found', `secrets "bootstrap-token-${id}" not found`);
  }
  await audit(c, 'token.delete', 'success', id, null);
  return { id, message: `bootstrap token "${id}" deleted` };
}

export function createTokenRoutes(options: { fetch?: typeof fetch } = {}): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use('/v1/tokens', createAdminAuth(options));
  app.use('/v1/tokens/*', createAdminAuth(options));
  app.use('/v1/server-token/*', createAdminAuth(options));

  app.post('/v1/tokens/generate', (c) => c.json({ token: generateBootstrapToken().token }));

  app.post('/v1/tokens', async (c) => c.json(await createToken(c, await readJsonObject(c)), 201));

  app.get('/v1/tokens', async (c) => c.json({ items: await listTokens(c) }));

  app.delete('/v1/tokens/:token', async (c) => {
    // Decoded once (by Hono, after strictPathEncoding): the path takes the token id only. A full
    // token here would put its secret in every access log on the way, so it is refused unused.
    const arg = c.req.param('token');
    if (!isBootstrapTokenId(arg) && looksLikeFullToken(arg)) {
      throw new AppError('invalid_token', 'the path takes the token id only, never the full token: send DELETE /v1/tokens/<id> (the 6 characters before the ".")', {
        reason: 'full token in the request path (refused, not logged)',
        extensions: { hint: 'k3s-token delete <token> sends only the id' },
      });
    }
    return c.json(await deleteToken(c, arg));
  });

  app.post('/v1/server-token/rotate', async (c) => {
    const body = parseWith(ServerTokenRotateBody, await readJsonObject(c));
    try {
      await servicesOf(c).cluster.rotateServerToken({ token: body.token, ...(body.newToken !== undefined ? { newToken: body.newToken } : {}) });
    } catch (err) {
      if (err instanceof AppError) await audit(c, 'server-token.rotate', 'failure', null, err.reason, err.code);
      throw err;
    }
    await audit(c, 'server-token.rotate', 'success', null, null);
    return c.json({ message: 'Token rotated, restart k3s nodes with new token', restart: 'every k3s server, and every agent that joined with the server token' });
  });

  return app;
}
