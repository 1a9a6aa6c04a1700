CREATE TABLE clicks_unpartitioned (
    id          BIGSERIAL PRIMARY KEY,
    event_id    UUID NOT NULL UNIQUE,
    code        TEXT NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL,
    outcome     TEXT NOT NULL,
    method      TEXT NOT NULL,
    user_agent  TEXT,
    referrer    TEXT,
    client_hash TEXT NOT NULL,
    bot         BOOLEAN NOT NULL DEFAULT false
);
INSERT INTO clicks_unpartitioned (event_id, code, occurred_at, outcome, method, user_agent, referrer, client_hash, bot)
SELECT event_id, code, occurred_at, outcome, method, user_agent, referrer, client_hash, bot FROM clicks ORDER BY occurred_at;
DROP TABLE clicks;
ALTER TABLE clicks_unpartitioned RENAME TO clicks;
ALTER INDEX clicks_unpartitioned_pkey RENAME TO clicks_pkey;
ALTER INDEX clicks_unpartitioned_event_id_key RENAME TO clicks_event_id_key;
CREATE INDEX clicks_code_time_idx ON clicks (code, occurred_at);
DROP FUNCTION click_rollups_apply(INTEGER, TEXT);
DROP FUNCTION clicks_ensure_partition(DATE);
DROP TABLE click_retention, click_rollup_hourly, click_rollup_daily, workspace_rollup_hourly,
    workspace_rollup_daily, orphan_visits_daily, orphan_visit_clients;
