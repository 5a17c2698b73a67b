// The machine registry (admin): PUT pre-registers or replaces, GET one (authoritative, from its
// store) or the fleet listing, DELETE revokes and deletes any live token. Secrets never echoed.
import { Hono, type Context } from 'hono';
import { servicesOf, type AppEnv } from '../app.ts';
import { settleDeletes } from '../enroll/enroll.ts';
import { parseMachineRegistration } from '../enroll/registration.ts';
import { parseMachineId } from '../attest/evidence.ts';
import { AppError } from '../errors.ts';
import { createAdminAuth } from '../http/admin-auth.ts';
import { readJsonObject } from '../http/json-body.ts';
import { MachineListQuery, parseWith, type MachineResponse } from '../schemas/index.ts';
import type { MachineView } from '../store/ports.ts';
import { formatDuration, formatExpiration } from '../token/index.ts';

const iso = (ms: number | null) => (ms === null ? null : formatExpiration(new Date(ms)));

export function presentMachine(v: MachineView): MachineResponse {
  return {
    id: v.id,
    groups: v.groups === null ? null : [...v.groups],
    labels: { ...v.labels },
    tokenTtl: v.tokenTtlSeconds === null ? null : formatDuration(v.tokenTtlSeconds * 1000),
    hasEnrollmentCode: v.hasEnrollmentCode,
    enrollmentCodeUsed: v.enrollmentCodeUsed,
    enrollmentCodeExpiresAt: iso(v.enrollmentCodeExpiresAt),
    jwtSubject: v.jwtSubject,
    ekPublicKeySha256: v.ekPublicKeySha256,
    certificateSha256: v.certificateSha256,
    revoked: v.revokedAt !== null,
    revokedAt: iso(v.revokedAt),
    createdAt: formatExpiration(new Date(v.createdAt)),
    updatedAt: formatExpiration(new Date(v.updatedAt)),
    liveToken: v.liveToken ? { id: v.liveToken.id, expiresAt: iso(v.liveToken.expiresAt), method: v.liveToken.method } : null,
    lastEnrolledAt: iso(v.lastEnrolledAt),
    state: v.state ?? 'registered',
    node: v.node ? { name: v.node.name, uid: v.node.uid, joinedAt: iso(v.node.joinedAt) } : null,
  };
}

const now = (c: Context<AppEnv>) => (c.get('deps').now ?? (() => new Date()))();

const auditAdmin = (c: Context<AppEnv>, event: string, machineId: string, outcome: 'success' | 'failure', reason: string | null, code: string | null = null) =>
  servicesOf(c)
    .audit.append({ at: now(c).getTime(), event, outcome, machineId, method: null, code, reason, tokenId: null, requestId: c.get('requestId'), actor: c.get('actor'), clientIp: null })
    .catch(() => undefined);

// The use cases behind the routes, shared with the dashboard (src/ui): one implementation each.

/** PUT /v1/machines/{id}: validates, registers (or replaces), indexes and audits. */
export async function registerMachine(c: Context<AppEnv>, pathId: string, body: unknown): Promise<{ machine: MachineView; created: boolean }> {
  const s = servicesOf(c);
  let reg;
  try {
    reg = parseMachineRegistration(pathId, body, now(c));
  } catch (err) {
    if (err instanceof AppError) await auditAdmin(c, 'machine.register', pathId.slice(0, 64), 'failure', err.reason, err.code);
    throw err;
  }
  const { machine, created } = await s.machines.register(reg, now(c).getTime());
  await s.index.upsert(machine).catch(() => undefined);
  await auditAdmin(c, 'machine.register', machine.id, 'success', created ? 'created' : 'replaced');
  return { machine, created };
}

/** GET /v1/machines: one page of the fleet listing, `next` is the cursor of the following page. */
export async function listMachines(c: Context<AppEnv>, query: { limit: number; after?: string }): Promise<{ items: MachineView[]; next: string | null }> {
  if (query.after !== undefined) parseMachineId(query.after, 'after');
  const items = await servicesOf(c).index.list({ limit: query.limit, ...(query.after ? { after: query.after } : {}) });
  return { items, next: items.length === query.limit ? items[items.length - 1]!.id : null };
}

/** GET /v1/machines/{id}: authoritative, from the machine's own store. */
export async function getMachine(c: Context<AppEnv>, rawId: string): Promise<MachineView> {
  const id = parseMachineId(rawId, 'machine id');
  const v = await servicesOf(c).machines.get(id);
  if (!v) throw new AppError('machine_unknown', `machine "${id}" is not registered`);
  return v;
}

/** DELETE /v1/machines/{id}: revokes and deletes any live token now. */
export async function revokeMachine(c: Context<AppEnv>, rawId: string): Promise<{ machine: MachineView; deletedTokens: string[] }> {
  const s = servicesOf(c);
  const id = parseMachineId(rawId, 'machine id');
  const { machine, tokensToDelete } = await s.machines.revoke(id, now(c).getTime());
  // Revocation must take effect now: delete inline; what fails stays owed to the alarm.
  await settleDeletes(id, tokensToDelete, { tokens: s.cluster.tokens, machines: s.machines, index: s.index });
  const after = (await s.machines.get(id)) ?? machine;
  await auditAdmin(c, 'machine.revoke', id, 'success', `tokens deleted: ${tokensToDelete.map((t) => t.id).join(',') || 'none'}`);
  return { machine: after, deletedTokens: tokensToDelete.map((t) => t.id) };
}

export function createMachineRoutes(options: { fetch?: typeof fetch } = {}): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use('/v1/machines', createAdminAuth(options));
  app.use('/v1/machines/*', createAdminAuth(options));

  app.put('/v1/machines/:id', async (c) => {
    const { machine, created } = await registerMachine(c, c.req.param('id'), await readJsonObject(c));
    return c.json(presentMachine(machine), created ? 201 : 200);
  });

  app.get('/v1/machines', async (c) => {
    const q = parseWith(MachineListQuery, { limit: c.req.query('limit'), after: c.req.query('after') });
    const page = await listMachines(c, { limit: Number(q.limit), ...(q.after !== undefined ? { after: q.after } : {}) });
    return c.json({ items: page.items.map(presentMachine), next: page.next });
  });

  app.get('/v1/machines/:id', async (c) => c.json(presentMachine(await getMachine(c, c.req.param('id')))));

  app.delete('/v1/machines/:id', async (c) => {
    const { machine, deletedTokens } = await revokeMachine(c, c.req.param('id'));
    return c.json({ ...presentMachine(machine), deletedTokens });
  });

  return app;
}
