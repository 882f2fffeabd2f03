-- The last TOTP time step accepted for each staff account, so that a code works only once (RFC 6238 §5.2).
ALTER TABLE staff_accounts ADD COLUMN totp_last_step INTEGER NOT NULL DEFAULT 0;
