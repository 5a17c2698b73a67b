-- When each fleet webhook event id was claimed, so ids can be forgotten after the audit
-- retention (AUDIT_RETENTION_DAYS) like the audit records that name them. Ids claimed before this
-- migration count as claimed now (not at their occurrence time, which the sender chooses: an id
-- claimed a minute ago with an old occurredAt must not be forgotten while its signed request can
-- still be replayed).
ALTER TABLE fleet_events ADD COLUMN claimed_at INTEGER;
UPDATE fleet_events SET claimed_at = CAST(strftime('%s', 'now') AS INTEGER) * 1000 WHERE claimed_at IS NULL;
CREATE INDEX IF NOT EXISTS fleet_events_claimed_at ON fleet_events (claimed_at);
