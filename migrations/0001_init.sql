-- Audit log of enrollments and admin actions (successes and failures) and the fleet listing.
-- Secrets never appear here: token ids only, reasons are written to exclude secret material.
CREATE TABLE IF NOT EXISTS audit (
  seq        INTEGER PRIMARY KEY AUTOINCREMENT,
  at         INTEGER NOT NULL,           -- unix ms
  event      TEXT    NOT NULL,           -- enroll | machine.register | machine.revoke | token.create | ...
  outcome    TEXT    NOT NULL CHECK (outcome IN ('success', 'failure')),
  machine_id TEXT,
  method     TEXT,
  code       TEXT,                       -- the public error code on failure
  reason     TEXT,                       -- the precise reason (never shown to the caller)
  token_id   TEXT,
  request_id TEXT,
  actor      TEXT,
  client_ip  TEXT
);
CREATE INDEX IF NOT EXISTS audit_at ON audit (at);
CREATE INDEX IF NOT EXISTS audit_machine ON audit (machine_id, at);

CREATE TABLE IF NOT EXISTS machines (
  id         TEXT PRIMARY KEY,
  view       TEXT    NOT NULL,           -- JSON MachineView (no secrets, no hashes of codes)
  updated_at INTEGER NOT NULL
);

-- Fleet webhook event ids, each applied at most once.
CREATE TABLE IF NOT EXISTS fleet_events (
  id          TEXT PRIMARY KEY,
  type        TEXT    NOT NULL,
  machine_id  TEXT    NOT NULL,
  occurred_at INTEGER NOT NULL
);
