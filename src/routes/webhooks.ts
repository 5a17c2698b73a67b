// POST /v1/webhooks/fleet: signed events from a fleet provisioning system. Verify the signature
// over the raw body, claim the event id (each applied once), apply in occurrence order per
// machine, delete tokens of revoked machines. An optional one-time code is generated and returned
// once when `machine.enrollmentCode` is `"generate"`.
import { Hono } from 'hono';
import { servicesOf, type AppEnv } from '../app.ts';
import { settleDeletes } from '../enroll/enroll.ts';
import type { FleetEvent } from '../enroll/machine-state.ts';
import { buildMachineRegistration } from '../enroll/registration.ts';
import { FleetEvent as FleetEventBody, FleetEventId, parseWith } from '../schemas/index.ts';
import { AppError } from '../errors.ts';
import { SIGNATURE_HEADER, verifyWebhookSignature } from '../http/webhook-signature.ts';
import { parseRfc3339, randomAlphabetString } from '../token/index.ts';
import { presentMachine } from './machines.ts';

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

    let parsed: unknown;
    try {
      parsed = JSON.parse(raw) as unknown;
    } catch {
      throw new AppError('invalid_request', 'the event must be a JSON object');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new AppError('invalid_request', 'the event must be a JSON object');
    const { id } = parseWith(FleetEventId, parsed);
    const body = parseWith(FleetEventBody, parsed, { codes: { type: 'unsupported_event' } });
    const machineId = body.machine.id;
    const at = body.occurredAt !== undefined ? parseRfc3339(body.occurredAt)! : signedAt * 1000;

    let event: FleetEvent;
    let generatedCode: string | null = null;
    if (body.type === 'machine.registered') {
      const { enrollmentCode, ...fields } = body.machine;
      if (enrollmentCode === 'generate') generatedCode = randomAlphabetString(32);
      const code = generatedCode ?? enrollmentCode;
      event = { type: 'machine.registered', registration: buildMachineRegistration(machineId, { ...fields, ...(code !== undefined ? { enrollmentCode: code } : {}) }, now, 'machine.'), at, eventId: id };
    } else {
      event = { type: 'machine.revoked', at, eventId: id };
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
