CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE api_tokens (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 64),
    role        TEXT NOT NULL CHECK (role IN ('admin', 'user')),
    token_sha256 TEXT NOT NULL UNIQUE,
    prefix      TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at  TIMESTAMPTZ
);

-- A deleted link keeps its row (status 'deleted') so its code is never reissued.
CREATE TABLE links (
    id             BIGSERIAL PRIMARY KEY,
    code           TEXT NOT NULL UNIQUE,
    url            TEXT NOT NULL,
    owner_token_id BIGINT REFERENCES api_tokens (id),
    status         TEXT NOT NULL DEFAULT 'active'
                   CHECK (status IN ('active', 'disabled', 'quarantined', 'deleted')),
    status_since   TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at     TIMESTAMPTZ,
    max_clicks     BIGINT CHECK (max_clicks > 0),
    click_count    BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX links_owner_idx ON links (owner_token_id, id);
CREATE INDEX links_status_idx ON links (status, id);
CREATE INDEX links_url_trgm_idx ON links USING gin (url gin_trgm_ops);
CREATE INDEX links_code_trgm_idx ON links USING gin (code gin_trgm_ops);

-- One row per redirect request, whatever it answered.
CREATE TABLE clicks (
    id          BIGSERIAL PRIMARY KEY,
    event_id    UUID NOT NULL UNIQUE,
    code        TEXT NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL,
    outcome     TEXT NOT NULL,
    method      TEXT NOT NULL,
    user_agent  TEXT,
    referrer    TEXT,
    client_hash TEXT NOT NULL
);
CREATE INDEX clicks_code_time_idx ON clicks (code, occurred_at);
