/** @jsxImportSource hono/jsx */
// The dashboard under /ui: server-rendered pages over the same use cases the API routes call
// (src/routes/*: registerMachine, listMachines, getMachine, revokeMachine, createToken,
// listTokens, deleteToken; the audit log and the index through the same services). It adds no
// business rule of its own: only sign-in, CSRF, the one-time display of secrets and rendering.
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import type { JSX } from 'hono/jsx/jsx-runtime';
import { servicesOf, type AppEnv } from '../app.ts';
import { AppError, UpstreamError } from '../errors.ts';
import { listNodes } from '../enroll/join-reconcile.ts';
import { addressLimiterKey } from '../http/client-address.ts';
import { createAccessVerifier, isAdminToken } from '../http/admin-auth.ts';
import { PROBLEMS } from '../http/problem.ts';
import { getMachine, listMachines, registerMachine, revokeMachine } from '../routes/machines.ts';
import { createToken, deleteToken, listTokens } from '../routes/tokens.ts';
import type { AuditRecord, MachineView } from '../store/ports.ts';
import { APP_CSS, APP_JS } from './assets.ts';
import { authenticate, createUiAuth, csrfOf, SESSION_COOKIE } from './auth.ts';
import { countStates, hourlyEnrollments, HOUR_MS, isEnrollEvent, machineStateOf, matchesLabel } from './fleet-data.ts';
import { Document, Notice } from './layout.tsx';
import { generateOneTimeCode } from './one-time-code.ts';
import { AuditPage, type AuditFilter } from './pages/audit.tsx';
import { FleetPage } from './pages/fleet.tsx';
import { LoginPage } from './pages/login.tsx';
import { MachinePage, MachinesPage, RevokeConfirmPage, type MachineFilter } from './pages/machines.tsx';
import { NodesPage } from './pages/nodes.tsx';
import { AlreadySubmittedPage, EMPTY_REGISTER, RegisteredPage, RegisterPage, type RegisterValues } from './pages/register.tsx';
import { TokensPage } from './pages/tokens.tsx';
import { clearUiCookie, isSameOrigin, randomNonce, readUiCookie, sameSecret, SESSION_TTL_SECONDS, setUiCookie, signSession } from './session.ts';

export const CONTENT_SECURITY_POLICY = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
const LOGIN_COOKIE = 'k3se_login';
const ONCE_REGISTER = 'k3se_once_register';
const ONCE_TOKEN = 'k3se_once_token';
const NONCE_TTL_SECONDS = 1800;
/** How far the audit-based views look back (the newest events). */
const AUDIT_SCAN = 500;
const FLEET_MAX_MACHINES = 10_000;

type C = Context<AppEnv>;

async function render(c: C, node: JSX.Element, status = 200): Promise<Response> {
  return c.html(`<!DOCTYPE html>${await node.toString()}`, status as 200);
}
const now = (c: C) => (c.get('deps').now ?? (() => new Date()))();
const form = async (c: C) => (await c.req.parseBody()) as Record<string, string | File>;
const field = (f: Record<string, string | File>, k: string) => (typeof f[k] === 'string' ? (f[k] as string) : '');
const messageOf = (err: AppError) => err.message;

export function createUiRoutes(options: { fetch?: typeof fetch } = {}): Hono<AppEnv> {
  const ui = new Hono<AppEnv>();
  const verifyAccess = createAccessVerifier(options);

  // Referrer: same-origin, not no-referrer: with no-referrer Chromium posts forms with `Origin: null`.
  const securityHeaders: MiddlewareHandler<AppEnv> = async (c, next) => {
    await next();
    c.res.headers.set('content-security-policy', CONTENT_SECURITY_POLICY);
    c.res.headers.set('x-frame-options', 'DENY');
    c.res.headers.set('referrer-policy', 'same-origin');
    c.res.headers.set('cross-origin-opener-policy', 'same-origin');
  };
  ui.use('/ui/*', securityHeaders); // also matches /ui itself

  ui.get('/ui/assets/app.css', (c) => c.body(APP_CSS, 200, { 'content-type': 'text/css; charset=utf-8' }));
  ui.get('/ui/assets/app.js', (c) => c.body(APP_JS, 200, { 'content-type': 'text/javascript; charset=utf-8' }));

  const loginPage = async (c: C, status: number, extra: { error?: string; notice?: string } = {}) => {
    const nonce = randomNonce();
    setUiCookie(c, LOGIN_COOKIE, nonce, NONCE_TTL_SECONDS);
    const config = c.get('config');
    return render(c, <LoginPage loginNonce={nonce} adminTokenEnabled={config.adminTokenSha256 !== null} accessEnabled={config.access !== null} {...extra} />, status);
  };
  const refusedPage = (c: C) =>
    render(
      c,
      <Document title="Request refused">
        <main id="content" class="login">
          <h1>Request refused</h1>
          <Notice kind="error">This form was not posted from this dashboard (cross-site request or missing CSRF token). Nothing was changed.</Notice>
          <p>
            <a href="/ui">Back to the dashboard</a>
          </p>
        </main>
      </Document>,
      403,
    );

  ui.get('/ui/login', async (c) => {
    if (await authenticate(c, verifyAccess)) return c.redirect('/ui', 303);
    return loginPage(c, 200, c.req.query('signed_out') !== undefined ? { notice: 'You are signed out.' } : {});
  });

  ui.post('/ui/login', async (c) => {
    const f = await form(c);
    if (!isSameOrigin(c) || !sameSecret(readUiCookie(c, LOGIN_COOKIE), f._login)) return refusedPage(c);
    const config = c.get('config');
    const s = servicesOf(c);
    const deps = c.get('deps');
    const clientIp = deps.clientIp ? deps.clientIp(c.req.raw, c.env) : (c.req.header('cf-connecting-ip') ?? null);
    // Sign-in attempts share the per-address limiter with enrollment (own key).
    const limit = await s.ipLimiter.hit(addressLimiterKey('ui-login', clientIp), now(c).getTime());
    if (!limit.allowed) return loginPage(c, 429, { error: `Too many sign-in attempts; try again in ${limit.retryAfterSeconds} s.` });
    const ok = config.adminTokenSha256 !== null && isAdminToken(config, field(f, 'token'));
    await s.audit
      .append({ at: now(c).getTime(), event: 'ui.login', outcome: ok ? 'success' : 'failure', machineId: null, method: null, code: ok ? null : 'unauthorized', reason: ok ? null : 'admin token mismatch', tokenId: null, requestId: c.get('requestId'), actor: 'ui:admin-token', clientIp })
      .catch(() => undefined);
    if (!ok || !config.adminTokenSha256) return loginPage(c, 401, { error: 'That is not the admin token.' });
    clearUiCookie(c, LOGIN_COOKIE);
    setUiCookie(c, SESSION_COOKIE, await signSession(config.adminTokenSha256, now(c)), SESSION_TTL_SECONDS);
    return c.redirect('/ui', 303);
  });

  // Everything below needs a signed-in operator; posts also need our Origin and the CSRF token.
  const auth = createUiAuth(options, (c, why) => (why === 'no_session' ? c.redirect('/ui/login', 303) : refusedPage(c)));
  ui.use('/ui/*', async (c, next) => {
    const path = new URL(c.req.url).pathname;
    if (path === '/ui/login' || path.startsWith('/ui/assets/')) return next();
    return auth(c, next);
  });
  const who = (c: C) => ({ csrf: csrfOf(c), actor: c.get('actor') });

  ui.post('/ui/logout', (c) => {
    clearUiCookie(c, SESSION_COOKIE);
    return c.redirect('/ui/login?signed_out', 303);
  });

  ui.get('/ui', async (c) => {
    const views: MachineView[] = [];
    let after: string | undefined;
    do {
      const page = await listMachines(c, { limit: 1000, ...(after ? { after } : {}) });
      views.push(...page.items);
      after = page.next ?? undefined;
    } while (after && views.length < FLEET_MAX_MACHINES);
    const at = now(c).getTime();
    const audit = servicesOf(c).audit;
    const [day, latest] = await Promise.all([audit.list({ sinceMs: at - 24 * HOUR_MS, limit: 5000 }), audit.list({ limit: AUDIT_SCAN })]);
    const rejections = latest.filter((e) => isEnrollEvent(e) && e.outcome === 'failure').slice(0, 10);
    return render(c, <FleetPage {...who(c)} counts={countStates(views)} total={views.length} truncated={after !== undefined} buckets={hourlyEnrollments(day, at)} rejections={rejections} />);
  });

  ui.get('/ui/machines', async (c) => {
    const limitRaw = c.req.query('limit') ?? '50';
    const limit = /^\d+$/.test(limitRaw) ? Math.min(1000, Math.max(1, Number(limitRaw))) : 50;
    const filter: MachineFilter = { q: (c.req.query('q') ?? '').trim(), label: (c.req.query('label') ?? '').trim(), state: c.req.query('state') ?? '', limit };
    const after = c.req.query('after') || undefined;
    try {
      if (!filter.q && !filter.label && !filter.state) {
        const page = await listMachines(c, { limit, ...(after ? { after } : {}) });
        return render(c, <MachinesPage {...who(c)} filter={filter} items={page.items} next={page.next} />);
      }
      // Filtered: walk the listing page by page (as the API pages it) until this page is full.
      const items: MachineView[] = [];
      let cursor = after;
      let next: string | null = null;
      for (let pages = 1; ; pages++) {
        const page = await listMachines(c, { limit: 200, ...(cursor ? { after: cursor } : {}) });
        for (const m of page.items) {
          if (items.length === limit) break;
          if (filter.q && !m.id.includes(filter.q.toLowerCase())) continue;
          if (filter.state && machineStateOf(m) !== filter.state) continue;
          if (!matchesLabel(m.labels, filter.label)) continue;
          items.push(m);
        }
        if (items.length === limit) {
          next = items[items.length - 1]!.id;
          break;
        }
        if (!page.next) break;
        cursor = page.next;
        // A bounded walk per request: the rest of the listing is the next page's.
        if (pages === 20) {
          next = cursor;
          break;
        }
      }
      return render(c, <MachinesPage {...who(c)} filter={filter} items={items} next={next} />);
    } catch (err) {
      if (!(err instanceof AppError) || PROBLEMS[err.code].status >= 500) throw err;
      return render(c, <MachinesPage {...who(c)} filter={filter} items={[]} next={null} error={messageOf(err)} />, PROBLEMS[err.code].status);
    }
  });

  const trailOf = async (c: C, id: string): Promise<AuditRecord[]> => (await servicesOf(c).audit.list({ limit: AUDIT_SCAN })).filter((e) => e.machineId === id);

  ui.get('/ui/machines/:id', async (c) => {
    const m = await getMachine(c, c.req.param('id'));
    const deleted = c.req.query('revoked');
    return render(c, <MachinePage {...who(c)} m={m} trail={await trailOf(c, m.id)} {...(deleted !== undefined ? { notice: `${m.id} is revoked${deleted ? `; token ${deleted} deleted` : ''}.` } : {})} />);
  });

  ui.get('/ui/machines/:id/revoke', async (c) => render(c, <RevokeConfirmPage {...who(c)} m={await getMachine(c, c.req.param('id'))} />));

  ui.post('/ui/machines/:id/revoke', async (c) => {
    const { machine, deletedTokens } = await revokeMachine(c, c.req.param('id'));
    return c.redirect(`/ui/machines/${encodeURIComponent(machine.id)}?revoked=${encodeURIComponent(deletedTokens.join(','))}`, 303);
  });

  const registerForm = (c: C, values: RegisterValues, status = 200, error?: string) => {
    const once = randomNonce();
    setUiCookie(c, ONCE_REGISTER, once, NONCE_TTL_SECONDS);
    return render(c, <RegisterPage {...who(c)} once={once} values={values} {...(error ? { error } : {})} />, status);
  };
  ui.get('/ui/register', (c) => registerForm(c, EMPTY_REGISTER));

  ui.post('/ui/register', async (c) => {
    const f = await form(c);
    // The nonce is single-use: a reload that re-posts the form never registers (or shows a code) twice.
    if (!sameSecret(readUiCookie(c, ONCE_REGISTER), f._once)) return render(c, <AlreadySubmittedPage {...who(c)} what="A generated one-time code" back="/ui/register" />, 409);
    clearUiCookie(c, ONCE_REGISTER);
    const values: RegisterValues = {
      id: field(f, 'id').trim(),
      generateCode: field(f, 'generateCode') === 'on',
      labels: field(f, 'labels'),
      groups: field(f, 'groups'),
      tokenTtl: field(f, 'tokenTtl').trim(),
      jwtSubject: field(f, 'jwtSubject').trim(),
      ekPublicKeySha256: field(f, 'ekPublicKeySha256').trim().toLowerCase(),
      certificateSha256: field(f, 'certificateSha256').trim().toLowerCase(),
    };
    const code = values.generateCode ? generateOneTimeCode() : null;
    try {
      const body: Record<string, unknown> = { labels: parseLabelLines(values.labels) };
      if (code) body.enrollmentCode = code;
      if (values.groups.trim()) body.groups = values.groups.split(',').map((g) => g.trim()).filter(Boolean);
      for (const k of ['tokenTtl', 'jwtSubject', 'ekPublicKeySha256', 'certificateSha256'] as const) if (values[k]) body[k] = values[k];
      const { machine, created } = await registerMachine(c, values.id, body);
      return render(c, <RegisteredPage {...who(c)} m={machine} created={created} code={code} enrollUrl={`${new URL(c.req.url).origin}/v1/enroll`} />, created ? 201 : 200);
    } catch (err) {
      if (!(err instanceof AppError) || PROBLEMS[err.code].status >= 500) throw err;
      return registerForm(c, values, PROBLEMS[err.code].status, messageOf(err));
    }
  });

  const tokensPage = async (c: C, extra: { created?: { token: string; id: string; expiresAt: string | null }; notice?: string; error?: string } = {}, status = 200) => {
    const once = randomNonce();
    setUiCookie(c, ONCE_TOKEN, once, NONCE_TTL_SECONDS);
    return render(c, <TokensPage {...who(c)} once={once} items={await listTokens(c)} {...extra} />, status);
  };
  ui.get('/ui/tokens', (c) => {
    const deleted = c.req.query('deleted');
    return tokensPage(c, deleted ? { notice: `Bootstrap token ${deleted} deleted.` } : {});
  });

  ui.post('/ui/tokens', async (c) => {
    const f = await form(c);
    if (!sameSecret(readUiCookie(c, ONCE_TOKEN), f._once)) return render(c, <AlreadySubmittedPage {...who(c)} what="A created join token" back="/ui/tokens" />, 409);
    clearUiCookie(c, ONCE_TOKEN);
    try {
      const ttl = field(f, 'ttl').trim();
      const created = await createToken(c, { description: field(f, 'description'), ...(ttl ? { ttl } : {}) });
      return tokensPage(c, { created }, 201);
    } catch (err) {
      if (!(err instanceof AppError) || PROBLEMS[err.code].status >= 500) throw err;
      return tokensPage(c, { error: messageOf(err) }, PROBLEMS[err.code].status);
    }
  });

  ui.post('/ui/tokens/delete', async (c) => {
    const { id } = await deleteToken(c, field(await form(c), 'id'));
    return c.redirect(`/ui/tokens?deleted=${encodeURIComponent(id)}`, 303);
  });

  ui.get('/ui/audit', async (c) => {
    const filter: AuditFilter = { machine: (c.req.query('machine') ?? '').trim(), event: c.req.query('event') ?? '', outcome: c.req.query('outcome') ?? '' };
    const latest = await servicesOf(c).audit.list({ limit: AUDIT_SCAN });
    const events = latest.filter((e) => (!filter.machine || e.machineId === filter.machine) && (!filter.event || e.event === filter.event) && (!filter.outcome || e.outcome === filter.outcome));
    const eventNames = [...new Set(['enroll', 'enroll.challenge', 'machine.register', 'machine.revoke', 'token.create', 'token.delete', ...latest.map((e) => e.event)])].sort();
    return render(c, <AuditPage {...who(c)} filter={filter} events={events} eventNames={eventNames} scanned={latest.length} />);
  });

  // GET /v1/nodes' use case: every Node with the machine that accounts for it. A cluster that does
  // not answer is a notice on the page (the API answers 502/503), never an error page.
  ui.get('/ui/nodes', async (c) => {
    const s = servicesOf(c);
    try {
      return render(c, <NodesPage {...who(c)} nodes={await listNodes({ index: s.index, cluster: s.cluster })} />);
    } catch (err) {
      if (!(err instanceof UpstreamError)) throw err;
      return render(c, <NodesPage {...who(c)} nodes={null} error={`The cluster did not answer (${err.message}); the Node list is not available right now. Try again in a moment.`} />, 503);
    }
  });

  // Errors on a page are pages too (the API keeps problem+json); the log line is the API's.
  ui.onError((err, c) => {
    const rid = c.get('requestId') ?? 'unknown';
    const app = err instanceof AppError ? err : new AppError('internal', 'internal error');
    c.get('deps').logger.log(app.code === 'internal' || app.code === 'misconfigured' || app.code.startsWith('upstream') ? 'error' : 'info', err instanceof AppError ? 'request.rejected' : 'request.failed', {
      request_id: rid,
      code: app.code,
      ...(err instanceof AppError ? { reason: err.reason } : { error: err instanceof Error ? `${err.name}: ${err.message}` : 'unknown' }),
      method: c.req.method,
      path: new URL(c.req.url).pathname,
    });
    const { status, title } = PROBLEMS[app.code];
    return render(
      c,
      <Document title={title}>
        <main id="content" class="login">
          <h1>{title}</h1>
          <Notice kind="error">{app.message}</Notice>
          <p class="hint">{`Request ${rid}`}</p>
          <p>
            <a href="/ui">Back to the dashboard</a>
          </p>
        </main>
      </Document>,
      status,
    );
  });

  return ui;
}

/** `key=value` per line (or comma-separated) → a labels object; the registration validates it. */
export function parseLabelLines(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const raw of text.split(/[\n,]/)) {
    const line = raw.trim();
    if (!line) continue;
    const i = line.indexOf('=');
    if (i <= 0) throw new AppError('invalid_request', `label "${line.slice(0, 64)}" must be key=value`);
    labels[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return labels;
}
