// Browser sessions for the dashboard: the signed session cookie (ADMIN_TOKEN login), the CSRF
// token bound to the credential, the same-origin check and the cookie attributes. It does not
// render anything and never logs or echoes a credential.
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { base64url, jwtVerify, SignJWT } from 'jose';
import type { AppEnv } from '../app.ts';
import { constantTimeEqual } from '../http/admin-auth.ts';

/** Sessions are short: an operator signs in again after an hour. */
export const SESSION_TTL_SECONDS = 3600;
const SESSION_AUDIENCE = 'k3s-enroll-ui';
const SESSION_KEY_INFO = new TextEncoder().encode('k3s-enroll ui session v1');
const CSRF_INFO = new TextEncoder().encode('k3s-enroll ui csrf v1');
export const ACCESS_COOKIE = 'CF_Authorization';

const enc = (s: string) => new TextEncoder().encode(s);

/** Plain http is only trusted on loopback (npm start); everywhere else cookies are Secure. */
export function isPlainHttpLoopback(url: string): boolean {
  const u = new URL(url);
  return u.protocol === 'http:' && (u.hostname === '127.0.0.1' || u.hostname === 'localhost' || u.hostname === '[::1]');
}

/** `__Host-` names need Secure; on plain-http loopback the bare name is used instead. */
export function cookieName(c: Context<AppEnv>, base: string): string {
  return isPlainHttpLoopback(c.req.url) ? base : `__Host-${base}`;
}

export function setUiCookie(c: Context<AppEnv>, base: string, value: string, maxAgeSeconds: number): void {
  setCookie(c, cookieName(c, base), value, { path: '/', httpOnly: true, sameSite: 'Strict', secure: !isPlainHttpLoopback(c.req.url), maxAge: maxAgeSeconds });
}

export function readUiCookie(c: Context<AppEnv>, base: string): string | undefined {
  return getCookie(c, cookieName(c, base));
}

export function clearUiCookie(c: Context<AppEnv>, base: string): void {
  deleteCookie(c, cookieName(c, base), { path: '/', secure: !isPlainHttpLoopback(c.req.url) });
}

/** The session signing key, derived from ADMIN_TOKEN's digest: rotating the token ends every session. */
function sessionKey(adminTokenSha256: Uint8Array): Uint8Array {
  return hmac(sha256, adminTokenSha256, SESSION_KEY_INFO);
}

export async function signSession(adminTokenSha256: Uint8Array, now: Date): Promise<string> {
  const iat = Math.floor(now.getTime() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject('admin-token')
    .setAudience(SESSION_AUDIENCE)
    .setIssuedAt(iat)
    .setExpirationTime(iat + SESSION_TTL_SECONDS)
    .sign(sessionKey(adminTokenSha256));
}

/** True for a session cookie signed with the current key and not expired. */
export async function verifySession(adminTokenSha256: Uint8Array, value: string, now: Date): Promise<boolean> {
  try {
    await jwtVerify(value, sessionKey(adminTokenSha256), { algorithms: ['HS256'], audience: SESSION_AUDIENCE, subject: 'admin-token', requiredClaims: ['exp', 'iat'], currentDate: now, clockTolerance: 5 });
    return true;
  } catch {
    return false;
  }
}

/**
 * The CSRF token for forms: a MAC of the credential the browser holds in an HttpOnly cookie (the
 * session, or the Access JWT). A cross-site page can neither read the cookie nor compute this.
 */
export function csrfTokenFor(credential: string): string {
  return base64url.encode(hmac(sha256, enc(credential), CSRF_INFO));
}

export function validateCsrfToken(credential: string, presented: unknown): boolean {
  if (typeof presented !== 'string' || presented.length === 0 || presented.length > 128) return false;
  return constantTimeEqual(enc(csrfTokenFor(credential)), enc(presented));
}

/** Equal strings in constant time (double-submit cookies). */
export function sameSecret(a: string | undefined, b: unknown): boolean {
  return typeof a === 'string' && typeof b === 'string' && a.length > 0 && constantTimeEqual(enc(a), enc(b));
}

/** A form post must come from our own origin (Origin, else Sec-Fetch-Site); no header, no post. */
export function isSameOrigin(c: Context<AppEnv>): boolean {
  const origin = c.req.header('origin');
  if (origin !== undefined) return origin === new URL(c.req.url).origin;
  return c.req.header('sec-fetch-site') === 'same-origin';
}

/** 32 random bytes, base64url: login and shown-once form nonces. */
export function randomNonce(): string {
  return base64url.encode(crypto.getRandomValues(new Uint8Array(32)));
}
