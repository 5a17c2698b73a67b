// Guards every request passes before any route: a safe request id, a path that decodes (once,
// strictly), and a bounded body that is drained or cancelled when refused. They never read
// credentials, so a hostile request gets its 4xx with or without them.
import type { MiddlewareHandler } from 'hono';
import { AppError } from '../errors.ts';

/** A caller-chosen X-Request-Id is kept only if it is this; anything else gets a fresh id. */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

export function isSafeRequestId(v: string | null | undefined): v is string {
  return typeof v === 'string' && REQUEST_ID_PATTERN.test(v);
}

export function safeRequestId(newId: () => string): MiddlewareHandler<{ Variables: { requestId: string } }> {
  return async (c, next) => {
    const given = c.req.header('x-request-id');
    c.set('requestId', isSafeRequestId(given) ? given : newId());
    await next();
  };
}

/** Decodes one path segment strictly: bad percent-encoding or bad UTF-8 is `null`, never a throw. */
export function decodePathSegment(segment: string): string | null {
  try {
    return decodeURIComponent(segment);
  } catch {
    return null;
  }
}

/**
 * Refuses a path whose percent-encoding does not decode (`%ZZ`, `%E0%A4%A`, a lone surrogate):
 * Hono decodes params leniently (bad escapes kept verbatim), so a later decode would throw.
 */
export function strictPathEncoding(): MiddlewareHandler {
  return async (c, next) => {
    const path = new URL(c.req.url).pathname;
    if (path.includes('%') && path.split('/').some((s) => decodePathSegment(s) === null)) {
      throw new AppError('invalid_request', 'the request path is not valid percent-encoded UTF-8');
    }
    await next();
  };
}

/**
 * Body limit that leaves the connection reusable: a declared length over the limit is refused
 * unread; a chunked body is counted while read and, once over the limit, drained (so no unread
 * upload is left between this response and the next request on the same connection) — but at
 * most DRAIN_MAX_BYTES or DRAIN_MAX_MS, then its stream is cancelled.
 */
export const DRAIN_MAX_BYTES = 1024 * 1024;
/** ...and for at most this long: a body that never ends cannot hold the request open. */
export const DRAIN_MAX_MS = 5_000;

export function boundedBody(maxBytes: number, limits: { drainMaxBytes?: number; drainMaxMs?: number } = {}): MiddlewareHandler {
  const drainMaxBytes = limits.drainMaxBytes ?? DRAIN_MAX_BYTES;
  const drainMaxMs = limits.drainMaxMs ?? DRAIN_MAX_MS;
  const tooLarge = () => new AppError('payload_too_large', `the request body exceeds ${maxBytes} bytes`);
  return async (c, next) => {
    const body = c.req.raw.body;
    if (!body) return next();
    const declared = c.req.header('content-length');
    if (declared !== undefined && !c.req.raw.headers.has('transfer-encoding')) {
      if (!/^\d+$/.test(declared) || Number(declared) > maxBytes) {
        await body.cancel().catch(() => undefined);
        throw tooLarge();
      }
      return next();
    }
    const reader = body.getReader();
    const chunks: Uint8Array[] = [];
    let size = 0;
    for (;;) {
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await reader.read();
      } catch {
        throw new AppError('invalid_request', 'the request body could not be read');
      }
      if (r.done) break;
      size += r.value.byteLength;
      if (size > maxBytes) {
        // Drained so the connection stays usable for the next request (wrangler dev's proxy hangs on
        // an unread upload), but only so far and so long: then the stream is cancelled.
        await drain(reader, drainMaxBytes, drainMaxMs);
        throw tooLarge();
      }
      chunks.push(r.value);
    }
    const buf = new Uint8Array(size);
    let off = 0;
    for (const ch of chunks) {
      buf.set(ch, off);
      off += ch.byteLength;
    }
    c.req.raw = new Request(c.req.raw, { body: buf });
    return next();
  };
}

/** Reads and drops up to `maxBytes` or for up to `maxMs`, whichever ends first; then cancels what is left. */
async function drain(reader: ReadableStreamDefaultReader<Uint8Array>, maxBytes: number, maxMs: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<'timeout'>((res) => (timer = setTimeout(() => res('timeout'), maxMs)));
  try {
    for (let drained = 0; drained <= maxBytes; ) {
      const r = await Promise.race([reader.read(), timedOut]);
      if (r === 'timeout') break;
      if (r.done) return;
      drained += r.value.byteLength;
    }
    await reader.cancel().catch(() => undefined);
  } catch {
    /* the client went away: nothing left to drain */
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}
