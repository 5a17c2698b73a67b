// POST /v1/webhooks/fleet: signed events from a fleet provisioning system. Verify the signature
// over the raw body, claim the event id (each applied once), apply in occurrence order per
// machine, delete tokens of revoked machines. An optional one-time code is generated and returned
// once when `machine.enrollmentCode` is `"generate"`.
import { Hono } from 'hono';
import { servicesOf, type AppEnv } from '../app.ts';
import { parseMachineId } from '../attest/evidence.ts';
import { settleDeletes } from '../enroll/enroll.ts';
import type { FleetEvent } from '../enroll/machine-state.ts';
import { parseMachineRegistration } from '../enroll/registration.ts';
import { AppError } from '../errors.ts';
import { SIGNATURE_HEADER, verifyWebhookSignature } from '../http/webhook-signature.ts';
import { parseRfc3339, randomAlphabetString } from '../token/index.ts';
import { presentMachine } from './machines.ts';

const EVENT_TYPES = new Set(['machine.registered', 'machine.revoked']);

export function createWebhookRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.post('/v1/webhooks/fleet', async (c) => {
    const config = c.get('config');
    const deps = c.get('deps');
    const now = (deps.now ?? (() => new Date()))();
    if (!config.fleetWebhookSecret) throw new AppError('not_found', 'fleet webhooks are not enabled (FLEET_WEBHOOK_SECRET is unset)');
    const type = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/json') throw new AppError('unsupported_media_type', 'content-type must be application/json');
    const raw = await c.req.text();
    const signedAt = verifyWebhookSignature(config.fleetWebhookSecret, c.req.header(SIGNATURE_HEADER), raw, now);

    let body: Record<string, unknown>;
    try {
      const v = JSON.parse(raw) as unknown;
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
      body = v as Record<string, unknown>;
    } catch {
      throw new AppError('invalid_request', 'the event must be a JSON object');
    }
    const id = body.id;
    if (typeof id !== 'string' || !/^[\x21-\x7e]{1,200}$/.test(id)) throw new AppError('invalid_request', 'id must be 1–200 printable characters');
    if (typeof body.type !== 'string' || !EVENT_TYPES.has(body.type)) throw new AppError('unsupported_event', `unknown event type; expected one of ${[...EVENT_TYPES].join(', ')}`);
    const machine = body.machine;
    if (typeof machine !== 'object' || machine === null || Array.isArray(machine)) throw new AppError('invalid_request', 'machine must be an object');
    const machineId = parseMachineId((machine as Record<string, unknown>).id, 'machine.id');
    let at = signedAt * 1000;
    if (body.occurredAt !== undefined) {
      const t = parseRfc3339(body.occurredAt);
      if (t === null) throw new AppError('invalid_request', 'occurredAt must be an RFC 3339 time');
      at = t;
    }

    let event: FleetEvent;
    let generatedCode: string | null = null;
    if (body.type === 'machine.registered') {
      const fields = { ...(machine as Record<string, unknown>) };
      if (fields.enrollmentCode === 'generate') {
        generatedCode = randomAlphabetString(32);
        fields.enrollmentCode = generatedCode;
      }
      event = { type: 'machine.registered', registration: parseMachineRegistration(machineId, fields, now), at };
    } else {
      event = { type: 'machine.revoked', at };
    }

    const s = servicesOf(c);
    if (!(await s.webhookEvents.claim(id, { type: body.type, machineId, at }))) {
      return c.json({ id, applied: false, duplicate: true });
    }
    let result;
    try {
      result = await s.machines.fleetEvent(machineId, event, now.getTime());
    } catch (err) {
      await s.webhookEvents.unclaim(id).catch(() => undefined);
      throw err;
    }
    if (result.applied && result.tokensToDelete.length > 0) await settleDeletes(machineId, result.tokensToDelete, { tokens: s.cluster.tokens, machines: s.machines, index: s.index });
    else if (result.machine) await s.index.upsert(result.machine).catch(() => undefined);
    await s.audit
      .append({ at: now.getTime(), event: `fleet.${body.type}`, outcome: 'success', machineId, method: null, code: null, reason: result.applied ? `event ${id}` : `event ${id} stale`, tokenId: null, requestId: c.get('requestId'), actor: 'fleet-webhook', clientIp: null })
      .catch(() => undefined);
    return c.json({
      id,
      applied: result.applied,
      ...(result.applied ? {} : { stale: true }),
      machine: result.machine ? presentMachine(result.machine) : null,
      ...(generatedCode && result.applied ? { enrollmentCode: generatedCode } : {}),
    });
  });
  return app;
}
