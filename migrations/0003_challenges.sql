-- Open TPM / device-certificate challenges by opaque id (the id no longer names the machine), so
-- that opening challenges never touches, replaces or evicts a machine's other open challenges.
CREATE TABLE IF NOT EXISTS challenges (
  id         TEXT PRIMARY KEY,
  machine_id TEXT    NOT NULL,
  record     TEXT    NOT NULL,           -- JSON ChallengeRecord (hashes only: no credential, no secret)
  expires_at INTEGER NOT NULL            -- unix ms
);
CREATE INDEX IF NOT EXISTS challenges_expires ON challenges (expires_at);

-- Revoked machines keep their EK in the index (their TPM must not auto-register under a new id):
-- restore what earlier code cleared on revocation.
UPDATE machines SET ek_sha256 = json_extract(view, '$.ekPublicKeySha256') WHERE ek_sha256 IS NULL AND json_extract(view, '$.ekPublicKeySha256') IS NOT NULL;
