-- Audit records flushed from a machine's outbox carry a unique id, so a flush repeated after a
-- crash stores each record once.
ALTER TABLE audit ADD COLUMN record_id TEXT;
CREATE UNIQUE INDEX IF NOT EXISTS audit_record_id ON audit (record_id);
