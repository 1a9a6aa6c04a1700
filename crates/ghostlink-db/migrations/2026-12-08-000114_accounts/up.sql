-- Accounts: a member signs in with an email and a password (argon2id hash), holds server-side
-- sessions (only each token's SHA-256 is stored), and is made by an invitation or given a new
-- password by a one-time token (also stored as its SHA-256).
ALTER TABLE members ADD COLUMN email text, ADD COLUMN password_hash text;
-- An email names one present member of the instance: sign-in is by email alone.
CREATE UNIQUE INDEX members_email_present ON members (lower(email))
    WHERE email IS NOT NULL AND removed_at IS NULL;

CREATE TABLE sessions (
    id bigserial PRIMARY KEY,
    member_id bigint NOT NULL REFERENCES members (id),
    token_sha256 text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX sessions_member_live ON sessions (member_id) WHERE revoked_at IS NULL;

-- One-time tokens: `invitation` (creates a member of `workspace_id` with `role`) or `reset`
-- (sets `member_id`'s password). Used once (`used_at`), before `expires_at`.
CREATE TABLE account_tokens (
    id bigserial PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('invitation', 'reset')),
    token_sha256 text NOT NULL UNIQUE,
    workspace_id bigint NOT NULL REFERENCES workspaces (id),
    member_id bigint REFERENCES members (id),
    role text,
    email text,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at timestamptz,
    CHECK ((kind = 'invitation') = (role IS NOT NULL)),
    CHECK ((kind = 'reset') = (member_id IS NOT NULL))
);
