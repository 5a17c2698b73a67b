// One HTTP call to the Kubernetes API (or k3s supervisor): injected fetch, bearer/Access headers,
// a timeout for the answer's headers and another for its body (read with a running byte cap),
// bounded retries with jitter for idempotent calls only, metav1.Status errors turned into typed
// errors, and the server's clock read from every `Date` header.
import { UpstreamError } from '../errors.ts';

export interface KubeHttpOptions {
  readonly baseUrl: string;
  readonly bearer: string;
  readonly fetch: typeof fetch;
  readonly now: () => Date;
  readonly timeoutMs?: number;
  /** Extra tries after the first, for idempotent calls. */
  readonly retries?: number;
  readonly accessClientId?: string | null;
  readonly accessClientSecret?: string | null;
  /** Waits between retries; injected so tests need not sleep. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Uniform [0,1) for jitter. */
  readonly random?: () => number;
}

export interface KubeStatus {
  readonly kind?: string;
  readonly status?: string;
  readonly message?: string;
  readonly reason?: string;
  readonly code?: number;
  readonly details?: { readonly name?: string; readonly kind?: string; readonly retryAfterSeconds?: number };
}

/** A non-2xx answer the caller may want to inspect (404 on get, 409 on create). */
export class KubeApiError extends UpstreamError {
  readonly status: number;
  readonly kubeReason: string;

  constructor(status: number, body: KubeStatus | null, retryAfterSeconds: number | undefined, what: string) {
    const retryable = status === 429 || status >= 500;
    const reason = body?.reason ?? `HTTP ${status}`;
    super(describe(status, what), {
      retryable,
      upstreamStatus: status,
      reason: `${what}: ${status} ${reason}: ${body?.message ?? ''}`.trim(),
      ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}),
    });
    this.name = 'KubeApiError';
    this.status = status;
    this.kubeReason = reason;
  }
}

function describe(status: number, what: string): string {
  if (status === 401) return `the cluster API rejected the service account credentials (${what})`;
  if (status === 403) return `the service account is not allowed to ${what}`;
  if (status === 429) return `the cluster API is throttling requests (${what})`;
  if (status >= 500) return `the cluster API failed (${what})`;
  return `the cluster API refused to ${what} (HTTP ${status})`;
}

export interface KubeResponse<T> {
  readonly status: number;
  readonly body: T;
  /** The API server's clock from its Date header, or null. */
  readonly serverDate: Date | null;
}

export const KUBE_TIMEOUT_DEFAULT_MS = 5_000;
const RETRY_BASE_MS = 200;
const MAX_RESPONSE_BYTES = 8 * 1024 * 1024;

export function createKubeHttp(options: KubeHttpOptions) {
  const timeoutMs = options.timeoutMs ?? KUBE_TIMEOUT_DEFAULT_MS;
  const retries = options.retries ?? 2;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const random = options.random ?? (() => 0.5);
  let clockOffsetMs: number | null = null;

  function headers(extra: Record<string, string>, auth: string): Headers {
    const h = new Headers({ accept: 'application/json', authorization: auth, ...extra });
    if (options.accessClientId && options.accessClientSecret) {
      h.set('cf-access-client-id', options.accessClientId);
      h.set('cf-access-client-secret', options.accessClientSecret);
    }
    return h;
  }

  async function once<T>(method: string, path: string, what: string, init: { body?: string; auth?: string; contentType?: string; raw?: boolean; absentOk?: boolean }): Promise<KubeResponse<T>> {
    const res = await send(method, path, what, init);
    if (init.absentOk && res.status === 404) {
      // An expected absence is an answer, not an error: no error object (its stack) per call. The
      // small Status body is read, not cancelled: a cancelled body closes the connection, and the
      // next call would pay a new TLS handshake.
      const timer = clusterTimeout(timeoutMs, () => options.now().getTime());
      await readCapped(res, timer.signal, what)
        .catch(() => undefined)
        .finally(() => timer.clear());
      return { status: 404, body: null as T, serverDate: parseHttpDate(res.headers.get('date')) };
    }
    return read<T>(res, what, init.raw === true);
  }

  async function send(method: string, path: string, what: string, init: { body?: string; auth?: string; contentType?: string }, signal?: AbortSignal): Promise<Response> {
    let res: Response;
    const timer = clusterTimeout(timeoutMs, () => options.now().getTime());
    try {
      res = await options.fetch(`${options.baseUrl}${path}`, {
        method,
        headers: headers(init.contentType ? { 'content-type': init.contentType } : {}, init.auth ?? `Bearer ${options.bearer}`),
        ...(init.body !== undefined ? { body: init.body } : {}),
        redirect: 'manual',
        signal: signal ? AbortSignal.any([signal, timer.signal]) : timer.signal,
      });
    } catch (cause) {
      const timedOut = timer.signal.aborted || (cause instanceof Error && (cause.name === 'TimeoutError' || cause.name === 'AbortError'));
      throw new KubeNetworkError(`the cluster API did not answer (${what})`, timedOut, {
        retryable: true,
        reason: `${what}: ${timedOut ? `timed out after ${timeoutMs} ms` : `network error: ${cause instanceof Error ? cause.message : String(cause)}`}`,
        cause,
      });
    } finally {
      timer.clear();
    }
    const serverDate = parseHttpDate(res.headers.get('date'));
    if (serverDate) clockOffsetMs = serverDate.getTime() - options.now().getTime();
    return res;
  }

  async function read<T>(res: Response, what: string, raw = false): Promise<KubeResponse<T>> {
    const serverDate = parseHttpDate(res.headers.get('date'));
    // The body gets its own deadline (a stalled or endless body must not hold the caller, e.g. a
    // Durable Object past its reservation) and is never buffered beyond the cap.
    const timer = clusterTimeout(timeoutMs, () => options.now().getTime());
    let text: string;
    try {
      text = await readCapped(res, timer.signal, what);
    } finally {
      timer.clear();
    }
    let body: unknown = null;
    if (raw && res.status < 300) return { status: res.status, body: text as T, serverDate };
    if (text !== '') {
      try {
        body = JSON.parse(text);
      } catch {
        body = null;
      }
    }
    if (res.status >= 300) {
      const status = body && typeof body === 'object' && (body as KubeStatus).kind === 'Status' ? (body as KubeStatus) : null;
      const ra = Number(res.headers.get('retry-after') ?? status?.details?.retryAfterSeconds);
      throw new KubeApiError(res.status, status, Number.isFinite(ra) && ra > 0 ? ra : undefined, what);
    }
    if (text !== '' && body === null) throw new UpstreamError(`the cluster API answered something that is not JSON (${what})`, { retryable: false, upstreamStatus: res.status });
    return { status: res.status, body: body as T, serverDate };
  }

  /** Idempotent calls retry on network errors, timeouts, 429 and 5xx; others run once. */
  /** `raw`: a 2xx body is returned as text, unparsed (the supervisor's /cacerts is PEM). */
  /** `absentOk`: a 404 answers `{ status: 404, body: null }` instead of throwing. */
  /** `through`: every try (a retry too) is sent through it — the write governor's send window. */
  async function request<T>(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, what: string, init: { body?: string; auth?: string; contentType?: string; idempotent?: boolean; raw?: boolean; absentOk?: boolean; through?: (attempt: number, send: () => Promise<KubeResponse<T>>) => Promise<KubeResponse<T>> } = {}): Promise<KubeResponse<T>> {
    const tries = init.idempotent ?? method !== 'POST' ? 1 + retries : 1;
    let last: unknown;
    for (let attempt = 0; attempt < tries; attempt++) {
      if (attempt > 0) {
        const retryAfter = last instanceof UpstreamError && last.upstreamStatus === 429 ? (last.retryAfterSeconds ?? 1) * 1000 : 0;
        await sleep(Math.min(5_000, Math.max(retryAfter, RETRY_BASE_MS * 2 ** (attempt - 1) * (0.5 + random()))));
      }
      try {
        return await (init.through ? init.through(attempt, () => once<T>(method, path, what, init)) : once<T>(method, path, what, init));
      } catch (err) {
        last = err;
        if (!(err instanceof UpstreamError) || !err.retryable) throw err;
      }
    }
    throw last;
  }

  /**
   * A long-lived GET (a watch): the answer's headers must come within the timeout, the body may
   * stream until `signal` aborts. Non-2xx answers become the same typed errors. Never retried:
   * the caller resumes from its own resourceVersion.
   */
  async function stream(path: string, what: string, signal: AbortSignal): Promise<ReadableStream<Uint8Array>> {
    const headersDue = new AbortController();
    const timer = setTimeout(() => headersDue.abort(new DOMException('no answer', 'TimeoutError')), timeoutMs);
    let res: Response;
    try {
      res = await send('GET', path, what, {}, AbortSignal.any([signal, headersDue.signal]));
    } finally {
      clearTimeout(timer);
    }
    if (res.status >= 300 || res.body === null) {
      await read(res, what);
      throw new UpstreamError(`the cluster API answered a watch without a body (${what})`, { retryable: true, upstreamStatus: res.status });
    }
    return res.body;
  }

  return {
    request,
    stream,
    /** Best estimate of the API server's clock: our clock plus the offset seen in the last Date header. */
    serverNow(): Date | null {
      return clockOffsetMs === null ? null : new Date(options.now().getTime() + clockOffsetMs);
    },
  };
}

export type KubeHttp = ReturnType<typeof createKubeHttp>;

/** No answer at all: `timedOut` false means the connection failed (the request may never have left). */
export class KubeNetworkError extends UpstreamError {
  readonly timedOut: boolean;
  constructor(message: string, timedOut: boolean, options: ConstructorParameters<typeof UpstreamError>[1]) {
    super(message, options);
    this.name = 'KubeNetworkError';
    this.timedOut = timedOut;
  }
}

/** Timer lateness beyond this means the isolate was busy, not the cluster slow. */
const TIMER_LAG_TOLERANCE_MS = 100;

/**
 * A timeout that measures the cluster, not a busy isolate: a timer that fires late (the event loop
 * was starved) is re-armed for the time the cluster was not actually given, up to twice, and the
 * abort itself waits one more turn so an answer already queued behind the timer is read first.
 */
function clusterTimeout(ms: number, now: () => number): { signal: AbortSignal; clear: () => void } {
  const controller = new AbortController();
  let handle: ReturnType<typeof setTimeout> | undefined;
  let extensions = 0;
  const arm = (delay: number) => {
    const due = now() + delay;
    handle = setTimeout(() => {
      const late = now() - due;
      if (late > TIMER_LAG_TOLERANCE_MS && extensions < 2) {
        extensions++;
        arm(Math.min(late, ms));
        return;
      }
      handle = setTimeout(() => controller.abort(new DOMException(`timed out after ${ms} ms`, 'TimeoutError')), 0);
    }, delay);
  };
  arm(ms);
  return { signal: controller.signal, clear: () => handle !== undefined && clearTimeout(handle) };
}

/** The body as text, read chunk by chunk: over MAX_RESPONSE_BYTES or past `deadline`, it is cancelled. */
async function readCapped(res: Response, deadline: AbortSignal, what: string): Promise<string> {
  const tooLarge = () => new UpstreamError(`the cluster API answer is too large (${what})`, { retryable: false, reason: `${what}: body over ${MAX_RESPONSE_BYTES} bytes` });
  const declared = Number(res.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > MAX_RESPONSE_BYTES) {
    await res.body?.cancel().catch(() => undefined);
    throw tooLarge();
  }
  if (res.body === null) return '';
  const reader = res.body.getReader();
  const aborted = new Promise<never>((_, reject) => {
    const fail = () => reject(new UpstreamError(`the cluster API did not finish its answer (${what})`, { retryable: true, reason: `${what}: body read ${deadline.reason instanceof Error ? deadline.reason.message : 'timed out'}` }));
    if (deadline.aborted) fail();
    else deadline.addEventListener('abort', fail, { once: true });
  });
  aborted.catch(() => undefined); // settled by the race below, or never looked at
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      let step: ReadableStreamReadResult<Uint8Array>;
      try {
        step = await Promise.race([reader.read(), aborted]);
      } catch (cause) {
        if (cause instanceof UpstreamError) throw cause;
        throw new UpstreamError(`the cluster API connection broke (${what})`, { retryable: true, reason: `${what}: body read failed`, cause });
      }
      if (step.done) break;
      total += step.value.byteLength;
      if (total > MAX_RESPONSE_BYTES) throw tooLarge();
      chunks.push(step.value);
    }
  } catch (err) {
    await reader.cancel().catch(() => undefined);
    throw err;
  }
  const all = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.byteLength;
  }
  return new TextDecoder().decode(all);
}

function parseHttpDate(value: string | null): Date | null {
  if (!value) return null;
  const t = Date.parse(value);
  return Number.isNaN(t) ? null : new Date(t);
}
