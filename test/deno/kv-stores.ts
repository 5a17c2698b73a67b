// Run by test/e2e/deno-kv.test.ts under the real Deno binary, on an in-memory Deno KV: exercises
// the KV index and challenge store and prints one JSON line of observations for Node to assert.
import { createKvAuditLog, createKvChallengeStore, createKvMachineIndex, createKvWebhookEventLog } from '../../src/store/deno-kv.ts';
import type { MachineView } from '../../src/store/ports.ts';

const kv = await Deno.openKv(':memory:');
const index = createKvMachineIndex(kv);
const view = (over: Partial<MachineView>): MachineView => ({
  id: 'm',
  groups: null,
  labels: {},
  tokenTtlSeconds: null,
  hasEnrollmentCode: false,
  enrollmentCodeUsed: false,
  enrollmentCodeExpiresAt: null,
  jwtSubject: null,
  ekPublicKeySha256: null,
  certificateSha256: null,
  revokedAt: null,
  createdAt: 1,
  updatedAt: 1,
  liveToken: null,
  lastEnrolledAt: null,
  ...over,
});
const EK = 'e'.repeat(64);
const out: Record<string, unknown> = {};

// A revoked machine keeps its EK indexed.
await index.upsert(view({ id: 'ek-revoked', ekPublicKeySha256: EK, updatedAt: 1 }));
await index.upsert(view({ id: 'ek-revoked', ekPublicKeySha256: EK, revokedAt: 2, updatedAt: 2 }));
out.revokedEkOwner = await index.findByEk(EK);

// A stale write (older updatedAt) changes nothing: the revocation stays.
await index.upsert(view({ id: 'ek-revoked', ekPublicKeySha256: EK, revokedAt: null, updatedAt: 1 }));
out.afterStaleWrite = (await index.list({ limit: 10 })).find((v) => v.id === 'ek-revoked')?.revokedAt ?? null;

// A newer view with another EK moves the index entry.
await index.upsert(view({ id: 'ek-revoked', ekPublicKeySha256: '1'.repeat(64), revokedAt: null, updatedAt: 3 }));
out.oldEkOwner = await index.findByEk(EK);
out.newEkOwner = await index.findByEk('1'.repeat(64));

const challenges = createKvChallengeStore(kv);
const ch = { id: crypto.randomUUID(), machineId: 'm', kind: 'tpm' as const, secretSha256: 'f'.repeat(64), ekSha256: EK, issuedAt: Date.now(), expiresAt: Date.now() + 300_000 };
await challenges.put(ch);
out.challengeFound = JSON.stringify(await challenges.get(ch.id)) === JSON.stringify(ch);
out.unknownChallenge = await challenges.get(crypto.randomUUID());

// Audit retention: a record older than the retention is gone (KV expiry); a recent one stays.
const audit = createKvAuditLog(kv, { retentionMs: 86_400_000 });
const rec = (at: number) => ({ at, event: 'enroll', outcome: 'success' as const, machineId: 'm', method: 'code', code: null, reason: null, tokenId: null, requestId: null, actor: null, clientIp: null });
await audit.append(rec(Date.now() - 86_400_000 - 60_000));
await audit.append(rec(Date.now()));
await new Promise((r) => setTimeout(r, 50));
out.auditKept = (await audit.list({ limit: 10 })).length;

// Fleet event ids: claimed once; with a retention they expire, and the id can be claimed again.
const meta = { type: 'machine.registered', machineId: 'm', at: Date.now() };
const kept = createKvWebhookEventLog(kv);
out.eventIdClaims = [await kept.claim('evt-kept', meta), await kept.claim('evt-kept', meta)];
const expiring = createKvWebhookEventLog(kv, { retentionMs: 20 });
const first = await expiring.claim('evt-expiring', meta);
const again = await expiring.claim('evt-expiring', meta);
let afterRetention = false;
for (let i = 0; i < 100 && !afterRetention; i++) {
  await new Promise((r) => setTimeout(r, 50));
  afterRetention = await expiring.claim('evt-expiring', meta);
}
out.expiringIdClaims = [first, again, afterRetention];

kv.close();
console.log(JSON.stringify(out));
