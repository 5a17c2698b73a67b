-- When each fleet webhook event id was claimed, so ids can be forgotten after the audit
-- retention (AUDIT_RETENTION_DAYS) like the audit records that name them. Ids claimed before this
-- migration take their occurrence time.
ALTER TABLE fleet_events ADD COLUMN claimed_at INTEGER;
UPDATE fleet_events SET claimed_at = occurred_at WHERE claimed_at IS NULL;
CREATE INDEX IF NOT EXISTS fleet_events_claimed_at ON fleet_events (claimed_at);
