// The dashboard in Debian's Chromium (playwright-core, no browser download) against `npm start`:
// sign in, register with a generated code (shown once), enroll with enroll.sh, see `enrolled`,
// see a rejection's reason in the audit view, revoke, create/delete a token, a cross-site post
// refused, sign out. axe-core on every page at desktop and phone widths; screenshots to
// .artifacts/ui/ (ignored). Skipped, saying why, where /usr/bin/chromium is missing.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnUntilJson, type Started } from '../support/spawn.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const CHROMIUM = '/usr/bin/chromium';
const SHOTS = join(ROOT, '.artifacts', 'ui');
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) console.warn(`[ui.test] skipped: ${CHROMIUM} is missing (apt-get install chromium; .ci/run installs it)`);

const freePort = () =>
  new Promise<number>((r) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => r(p));
    });
  });

let devDir = '';
let port = 0;
let base = '';
let started: Started<unknown> | undefined;
let adminToken = '';
let browser: Browser | undefined;
let context: BrowserContext;
let page: Page;
const cspViolations: string[] = [];

beforeAll(async () => {
  if (!haveChromium) return;
  devDir = mkdtempSync(join(tmpdir(), 'k3s-enroll-ui-'));
  port = await freePort();
  base = `http://127.0.0.1:${port}`;
  started = await spawnUntilJson(process.execPath, ['scripts/start.mjs'], { cwd: ROOT, env: { ...process.env, PORT: String(port), K3S_ENROLL_DEV_DIR: devDir, CLUSTER_API_URL: '', K3S_SERVER_URL: '' }, timeoutMs: 90_000 });
  adminToken = JSON.parse(readFileSync(join(devDir, 'state.json'), 'utf8')).adminToken;
  const { chromium } = await import('playwright-core');
  // launch() gives Chromium a fresh temporary --user-data-dir of its own, removed on close.
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
  });
  mkdirSync(SHOTS, { recursive: true });
}, 150_000);

afterAll(async () => {
  await browser?.close();
  await started?.stop();
  if (devDir) rmSync(devDir, { recursive: true, force: true });
});

const enrollSh = (env: Record<string, string>) =>
  new Promise<{ code: number; stderr: string }>((res) =>
    execFile('sh', [join(ROOT, 'scripts/enroll.sh'), 'code'], { env: { ...process.env, ...env } }, (err, _o, stderr) => res({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr })),
  );
/** Serious/critical axe violations on the page as it stands (for pages that only a POST renders). */
async function axeSerious(p: Page): Promise<string[]> {
  // Evaluated through the DevTools protocol, which the page's CSP does not govern.
  await p.evaluate(readFileSync(join(ROOT, 'node_modules/axe-core/axe.min.js'), 'utf8'));
  return p.evaluate(async () => {
    const r = await (window as unknown as { axe: { run(): Promise<{ violations: Array<{ id: string; impact: string }> }> } }).axe.run();
    return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id} (${v.impact})`);
  });
}
const row = (id: string) => page.getByRole('row').filter({ has: page.getByRole('rowheader', { name: id, exact: true }) });

describe.skipIf(!haveChromium)('dashboard in Chromium against npm start', () => {
  let code = '';

  it('a request without a session is sent to the sign-in page; signing in opens the fleet page', async () => {
    await page.goto(`${base}/ui/machines`);
    expect(new URL(page.url()).pathname).toBe('/ui/login');
    await page.getByLabel('Admin token').fill('wrong-token-0123456789');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('not the admin token');
    await page.getByLabel('Admin token').fill(adminToken);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${base}/ui`);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Fleet');
    const cookie = (await context.cookies()).find((c) => c.name === 'k3se_session')!;
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', secure: false });
    expect(page.url()).not.toContain(adminToken);
  }, 60_000);

  it('registers a machine with a generated code: shown once, gone after a reload', async () => {
    await page.getByRole('link', { name: 'Register a machine' }).first().click();
    await page.getByLabel('Machine ID').fill('ui-edge-1');
    await page.getByLabel('Labels').fill('site=7');
    await page.getByLabel('Generate a one-time code').check();
    await page.getByRole('button', { name: 'Register' }).click();
    code = (await page.getByTestId('one-time-code').textContent())!.trim();
    expect(code).toMatch(/^[a-z2-9]{4}(-[a-z2-9]{4}){4}$/);
    expect(page.url()).not.toContain(code);
    expect(await page.locator('.card svg').count()).toBe(1);
    await page.screenshot({ path: join(SHOTS, 'register-card.png'), fullPage: true });
    expect(await axeSerious(page)).toEqual([]);
    await page.reload();
    expect(await page.getByTestId('one-time-code').count()).toBe(0);
    expect(await page.content()).not.toContain(code);
    await page.goto(`${base}/ui/machines/ui-edge-1`);
    expect(await page.content()).not.toContain(code);
  }, 60_000);

  it('enroll.sh enrolls it with the code; the machines table shows `enrolled`', async () => {
    const r = await enrollSh({ ENROLL_URL: base, MACHINE_ID: 'ui-edge-1', ENROLL_CODE: code, K3S_CONFIG: join(devDir, 'k3s', 'config.yaml') });
    expect(r.code, r.stderr).toBe(0);
    // The listing (D1) is written through the machine object's outbox a moment after the answer: reload until it shows.
    await expect
      .poll(
        async () => {
          await page.goto(`${base}/ui/machines`);
          return row('ui-edge-1').getByRole('cell').first().textContent();
        },
        { timeout: 15_000 },
      )
      .toBe('enrolled');
    expect(await page.getByRole('table').count()).toBe(1);
    await page.getByLabel('Label').fill('site=7');
    await page.getByLabel('State').selectOption('enrolled');
    await page.getByRole('button', { name: 'Filter' }).click();
    expect(await row('ui-edge-1').count()).toBe(1);
  }, 60_000);

  it("a rejected enrollment's reason is in the audit view", async () => {
    const again = await enrollSh({ ENROLL_URL: base, MACHINE_ID: 'ui-edge-1', ENROLL_CODE: code, K3S_CONFIG: join(devDir, 'k3s', 'other.yaml') });
    expect(again.code).toBe(5);
    await page.goto(`${base}/ui`);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit', exact: true }).click();
    await page.getByLabel('Machine ID').fill('ui-edge-1');
    await page.getByLabel('Outcome').selectOption('failure');
    await page.getByRole('button', { name: 'Filter' }).click();
    const failure = page.getByRole('row').filter({ hasText: 'code_used' });
    expect(await failure.count()).toBeGreaterThan(0);
    expect(await failure.first().textContent()).toContain('code already used');
  }, 60_000);

  it('revokes it after a confirmation step', async () => {
    await page.goto(`${base}/ui/machines/ui-edge-1`);
    await page.getByRole('button', { name: 'Revoke' }).click();
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Revoke ui-edge-1?');
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.waitForURL(/\/ui\/machines\/ui-edge-1\?revoked=/);
    expect(await page.locator('.state').first().textContent()).toBe('revoked');
    expect(await page.getByText('No live token').count()).toBe(1);
  }, 60_000);

  it('creates a token (K10 shown once) and deletes it', async () => {
    await page.goto(`${base}/ui/tokens`);
    await page.getByLabel('Description').fill('from the dashboard');
    await page.getByRole('button', { name: 'Create token' }).click();
    const k10 = (await page.getByTestId('join-token').textContent())!.trim();
    expect(k10).toMatch(/^K10[0-9a-f]{64}::[a-z0-9]{6}\.[a-z0-9]{16}$/);
    const id = k10.split('::')[1]!.split('.')[0]!;
    expect(await row(id).count()).toBe(1);
    await page.screenshot({ path: join(SHOTS, 'tokens-created.png'), fullPage: true });
    expect(await axeSerious(page)).toEqual([]);
    await page.reload();
    expect(await page.getByTestId('join-token').count()).toBe(0);
    await page.goto(`${base}/ui/tokens`);
    await row(id).getByRole('button', { name: `Delete ${id}` }).click();
    await page.waitForURL(`${base}/ui/tokens?deleted=${id}`);
    expect(await row(id).count()).toBe(0);
  }, 60_000);

  it('every page: no serious or critical axe violation, at desktop and phone width; screenshots', async () => {
    // A little more fleet for the pages (and the README screenshot): machines on two sites, and
    // enrollments refused for a wrong code and for an unknown machine.
    const admin = { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' };
    for (const [id, site] of [['site7-a', '7'], ['site7-b', '7'], ['site9-a', '9']] as const) {
      expect((await fetch(`${base}/v1/machines/${id}`, { method: 'PUT', headers: admin, body: JSON.stringify({ enrollmentCode: `code-${id}-0123456789`, labels: { site } }) })).status).toBe(201);
    }
    const enroll = (machineId: string, c: string) => fetch(`${base}/v1/enroll`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ method: 'code', machineId, code: c }) });
    expect((await enroll('site7-a', 'code-site7-a-0123456789')).status).toBe(201);
    expect((await enroll('site7-b', 'wrong-code-0123456789')).status).toBe(401);
    expect((await enroll('site7-c', 'wrong-code-0123456789')).status).toBe(401); // unknown machine: the same answer as a wrong code (issue 14 item 10)

    const axe = readFileSync(join(ROOT, 'node_modules/axe-core/axe.min.js'), 'utf8');
    // axe is injected as an inline script, which the dashboard's CSP forbids: a separate context
    // with bypassCSP, holding the same session, runs the audits.
    const a11y = await browser!.newContext({ bypassCSP: true, storageState: await context.storageState() });
    const p = await a11y.newPage();
    const signedOut = await browser!.newContext({ bypassCSP: true });
    const out = await signedOut.newPage();
    const pages = { login: '/ui/login', fleet: '/ui', machines: '/ui/machines', machine: '/ui/machines/ui-edge-1', revoke: '/ui/machines/ui-edge-1/revoke', register: '/ui/register', tokens: '/ui/tokens', audit: '/ui/audit', nodes: '/ui/nodes' };
    const found: string[] = [];
    for (const [name, path] of Object.entries(pages)) {
      for (const [size, viewport] of [['desktop', { width: 1280, height: 900 }], ['phone', { width: 390, height: 844 }]] as const) {
        const q = name === 'login' ? out : p;
        await q.setViewportSize(viewport);
        await q.goto(`${base}${path}`);
        expect(new URL(q.url()).pathname).toBe(path);
        await q.addScriptTag({ content: axe });
        const { violations, passes } = await q.evaluate(async () => {
          const r = await (window as unknown as { axe: { run(): Promise<{ passes: unknown[]; violations: Array<{ id: string; impact: string; nodes: unknown[] }> }> } }).axe.run();
          return { passes: r.passes.length, violations: r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id} (${v.impact}, ${v.nodes.length})`) };
        });
        expect(passes, `axe ran on ${name}`).toBeGreaterThan(10);
        for (const v of violations) found.push(`${name}@${size}: ${v}`);
        await q.screenshot({ path: join(SHOTS, `${name}-${size}.png`), fullPage: true });
        // Nothing wider than the phone: wide tables scroll inside their own region.
        if (size === 'phone') expect(await q.evaluate(() => document.documentElement.scrollWidth), `${name} overflows at 390px`).toBeLessThanOrEqual(390);
      }
    }
    await a11y.close();
    await signedOut.close();
    expect(found).toEqual([]);
  }, 180_000);

  it('a cross-site form post is refused and changes nothing', async () => {
    await page.goto(`${base}/ui/register`);
    expect(await page.getByLabel('Machine ID').count()).toBe(1);
    // Another origin on the same site (other port), so the SameSite=Strict cookie is even sent:
    // only the Origin check and the CSRF token stand in the way.
    const evilPort = await freePort();
    const evil: Server = createHttpServer((_req, res) => {
      res.setHeader('content-type', 'text/html');
      res.end(`<!doctype html><title>evil</title><form method="post" action="${base}/ui/machines/ui-edge-2/revoke"><input name="_csrf" value="guessed"><button>go</button></form><form id="reg" method="post" action="${base}/ui/register"><input name="id" value="evil-1"><button>reg</button></form>`);
    }).listen(evilPort, '127.0.0.1');
    try {
      await page.goto(`http://127.0.0.1:${evilPort}/`);
      await page.getByRole('button', { name: 'reg' }).click();
      await page.waitForLoadState();
      expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Request refused');
      await page.goto(`${base}/ui/machines/evil-1`);
      expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Unknown machine');
    } finally {
      evil.close();
    }
  }, 60_000);

  it('signs out; afterwards pages need a sign-in again', async () => {
    await page.goto(`${base}/ui`);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/\/ui\/login/);
    expect((await context.cookies()).some((c) => c.name === 'k3se_session')).toBe(false);
    await page.goto(`${base}/ui/tokens`);
    expect(new URL(page.url()).pathname).toBe('/ui/login');
    expect(cspViolations).toEqual([]);
  }, 60_000);
});
