-- Webhooks: a workspace's subscriptions, one delivery per (subscription, event), and every
-- attempt of a delivery (the delivery log).
CREATE TABLE webhook_subscriptions (
    id              BIGSERIAL PRIMARY KEY,
    workspace_id    BIGINT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    url             TEXT NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
    -- Event type names (ghostlink_domain::webhook::WebhookEventType), at least one.
    event_types     TEXT[] NOT NULL CHECK (cardinality(event_types) BETWEEN 1 AND 16),
    -- `whsec_` + base64: the signing key, shown to the caller once (at creation, at rotation).
    secret          TEXT NOT NULL CHECK (secret LIKE 'whsec\_%'),
    enabled         BOOLEAN NOT NULL DEFAULT true,
    -- Why the dispatcher disabled it (NULL when enabled, or disabled by a caller).
    disabled_reason TEXT CHECK (length(disabled_reason) <= 1024),
    -- Since when every attempt failed (NULL after a success): the auto-disable clock.
    failing_since   TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX webhook_subscriptions_workspace_idx ON webhook_subscriptions (workspace_id, id);

CREATE TABLE webhook_deliveries (
    id              BIGSERIAL PRIMARY KEY,
    subscription_id BIGINT NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    -- The event's id: `webhook-id` is `msg_` + it, the same on every attempt.
    event_id        UUID NOT NULL,
    event_type      TEXT NOT NULL,
    -- The exact bytes sent (signed) on every attempt.
    body            TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending',
    attempts        INT NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_status     INT,
    last_latency_ms INT,
    last_error      TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at     TIMESTAMPTZ,
    UNIQUE (subscription_id, event_id)
);
-- The delivery loop's claim, and the backlog gauges.
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_log_idx ON webhook_deliveries (subscription_id, id DESC);

CREATE TABLE webhook_attempts (
    delivery_id     BIGINT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt         INT NOT NULL,
    at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    status          INT,
    latency_ms      INT NOT NULL,
    error           TEXT,
    PRIMARY KEY (delivery_id, attempt)
);
