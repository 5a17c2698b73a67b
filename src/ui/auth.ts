// Who is using the dashboard: a Cloudflare Access JWT (header or CF_Authorization cookie,
// verified exactly as the API verifies it) or the session cookie of an ADMIN_TOKEN login. Form
// posts also need our own Origin and the CSRF token bound to that credential.
import type { Context, MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import type { AppEnv } from '../app.ts';
import { createAccessVerifier } from '../http/admin-auth.ts';
import { ACCESS_COOKIE, csrfTokenFor, isSameOrigin, readUiCookie, validateCsrfToken, verifySession } from './session.ts';

export const SESSION_COOKIE = 'k3se_session';

/** The CSRF token of this request's credential, for the forms a page renders. */
const csrfByRequest = new WeakMap<Request, string>();
export function csrfOf(c: Context<AppEnv>): string {
  return csrfByRequest.get(c.req.raw) ?? '';
}

export type UiRefusal = 'no_session' | 'cross_site';

/**
 * Authenticates a dashboard request. Unauthenticated: `onRefused('no_session')` (sign-in page);
 * a post from elsewhere or without the CSRF token: `onRefused('cross_site')`.
 */
export function createUiAuth(options: { fetch?: typeof fetch }, onRefused: (c: Context<AppEnv>, why: UiRefusal) => Response | Promise<Response>): MiddlewareHandler<AppEnv> {
  const verifyAccess = createAccessVerifier(options);
  return async (c, next) => {
    const who = await authenticate(c, verifyAccess);
    if (!who) return onRefused(c, 'no_session');
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') {
      const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
      if (!isSameOrigin(c) || !validateCsrfToken(who.credential, form._csrf)) return onRefused(c, 'cross_site');
    }
    c.set('actor', who.actor);
    csrfByRequest.set(c.req.raw, csrfTokenFor(who.credential));
    return next();
  };
}

export async function authenticate(c: Context<AppEnv>, verifyAccess: (c: Context<AppEnv>, jwt: string) => Promise<string>): Promise<{ actor: string; credential: string } | null> {
  const config = c.get('config');
  const now = c.get('deps').now?.() ?? new Date();
  const session = readUiCookie(c, SESSION_COOKIE);
  if (session && config.adminTokenSha256 && (await verifySession(config.adminTokenSha256, session, now))) return { actor: 'ui:admin-token', credential: session };
  const assertion = c.req.header('cf-access-jwt-assertion') ?? getCookie(c, ACCESS_COOKIE);
  if (assertion && config.access) {
    try {
      return { actor: await verifyAccess(c, assertion), credential: assertion };
    } catch {
      return null;
    }
  }
  return null;
}
