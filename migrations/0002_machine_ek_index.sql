-- Find the machine registered with a TPM's EK (SHA-256 of its SubjectPublicKeyInfo DER).
ALTER TABLE machines ADD COLUMN ek_sha256 TEXT;
CREATE INDEX IF NOT EXISTS machines_ek ON machines (ek_sha256);
