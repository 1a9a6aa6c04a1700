-- Canary: the health of each link's destination, and the last checks that decided it.
-- `next_check_at` is the schedule; canary replicas claim due rows with FOR UPDATE SKIP LOCKED
-- and push `next_check_at` forward in the same statement, so no two replicas probe a link at
-- once. `url` is the destination the state is about: a changed URL starts again from unknown.
CREATE TABLE link_health (
    code                  TEXT PRIMARY KEY REFERENCES links (code) ON DELETE CASCADE,
    url                   TEXT NOT NULL,
    state                 TEXT NOT NULL DEFAULT 'unknown'
                          CHECK (state IN ('unknown', 'healthy', 'failing', 'quarantined')),
    consecutive_failures  INTEGER NOT NULL DEFAULT 0,
    consecutive_successes INTEGER NOT NULL DEFAULT 0,
    failing_since         TIMESTAMPTZ,
    last_checked_at       TIMESTAMPTZ,
    next_check_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX link_health_due_idx ON link_health (next_check_at);
CREATE INDEX link_health_state_idx ON link_health (state);

CREATE TABLE link_checks (
    id          BIGSERIAL PRIMARY KEY,
    code        TEXT NOT NULL,
    checked_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    outcome     TEXT NOT NULL
                CHECK (outcome IN ('ok', 'http_4xx', 'http_5xx', 'timeout', 'dns', 'tls', 'connect', 'blocked')),
    status      INTEGER,
    latency_ms  INTEGER NOT NULL,
    method      TEXT NOT NULL,
    final_url   TEXT,
    redirects   TEXT NOT NULL DEFAULT '[]',  -- JSON array of the URLs followed, in order
    error       TEXT
);
CREATE INDEX link_checks_code_idx ON link_checks (code, checked_at DESC, id DESC);

INSERT INTO link_health (code, url)
SELECT code, url FROM links WHERE status IN ('active', 'quarantined');

-- Ghost-probe: suspicious traffic found in the click stream. One row per episode of a
-- (kind, client, code); a later episode (after a quiet gap) is a new row.
CREATE TABLE probe_findings (
    id         BIGSERIAL PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('enumeration', 'dead_link_probing', 'zero_click', 'burst')),
    client     TEXT NOT NULL DEFAULT '',  -- hashed client; '' for link-level findings
    code       TEXT NOT NULL DEFAULT '',  -- '' where no single code applies
    count      BIGINT NOT NULL,
    first_seen TIMESTAMPTZ NOT NULL,
    last_seen  TIMESTAMPTZ NOT NULL,
    action     TEXT NOT NULL DEFAULT 'observe' CHECK (action IN ('observe', 'deny'))
);
CREATE INDEX probe_findings_recent_idx ON probe_findings (last_seen DESC, id DESC);
CREATE INDEX probe_findings_key_idx ON probe_findings (kind, client, code, last_seen DESC);
