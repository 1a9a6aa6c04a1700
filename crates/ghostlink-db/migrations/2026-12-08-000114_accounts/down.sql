DROP TABLE account_tokens;
DROP TABLE sessions;
DROP INDEX members_email_present;
ALTER TABLE members DROP COLUMN password_hash, DROP COLUMN email;
