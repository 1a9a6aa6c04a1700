-- Clicks at scale: the raw table partitioned by UTC day (retention drops whole partitions),
-- every click enriched (browser, OS, device, country, region, referrer host, domain, rule, bot
-- reason), and rollups kept in the transaction that stores the clicks, so stats read rollups
-- only. The client address was never stored and still is not: only its salted hash.

ALTER TABLE clicks RENAME TO clicks_unpartitioned;

CREATE TABLE clicks (
    event_id      UUID NOT NULL,
    code          TEXT NOT NULL,
    occurred_at   TIMESTAMPTZ NOT NULL,
    outcome       TEXT NOT NULL,
    method        TEXT NOT NULL,
    user_agent    TEXT,
    referrer      TEXT,
    client_hash   TEXT NOT NULL,
    bot           BOOLEAN NOT NULL DEFAULT false,
    rule          SMALLINT,
    country       TEXT,
    region        TEXT,
    browser       TEXT,
    os            TEXT,
    device        TEXT,
    referrer_host TEXT,
    domain        TEXT,
    bot_reason    TEXT,
    -- The same event always has the same occurred_at, so this key finds a redelivery in the
    -- partition the first copy went to.
    PRIMARY KEY (event_id, occurred_at)
) PARTITION BY RANGE (occurred_at);
CREATE INDEX clicks_code_time_idx2 ON clicks (code, occurred_at);

-- The oldest UTC day kept (set by the recorder's retention task): clicks older than this are
-- neither stored nor counted, so a replay after retention cannot count a click twice.
CREATE TABLE click_retention (
    only_row BOOLEAN PRIMARY KEY DEFAULT true CHECK (only_row),
    keep_from DATE
);
INSERT INTO click_retention (keep_from) VALUES (NULL);

-- Creates the partition of one UTC day if missing, without blocking writers: the table is made
-- alone with a CHECK constraint matching its range, so ATTACH (SHARE UPDATE EXCLUSIVE on
-- clicks, which does not conflict with inserts) needs no scan. Returns whether it made one.
CREATE FUNCTION clicks_ensure_partition(d DATE) RETURNS BOOLEAN LANGUAGE plpgsql AS $$
DECLARE
    part TEXT := 'clicks_' || to_char(d, 'YYYYMMDD');
    lo TIMESTAMPTZ := d::timestamp AT TIME ZONE 'UTC';
    hi TIMESTAMPTZ := (d + 1)::timestamp AT TIME ZONE 'UTC';
BEGIN
    IF to_regclass(part) IS NOT NULL THEN
        RETURN false;
    END IF;
    PERFORM pg_advisory_xact_lock(1668246379, d - DATE '2000-01-01');
    -- Read the catalog again, by a query (a fresh snapshot, taken after the lock): the
    -- relation cache is not refreshed by an advisory lock and may not show a table another
    -- maker just committed.
    IF EXISTS (SELECT 1 FROM pg_class WHERE relname = part AND relnamespace = current_schema()::regnamespace) THEN
        RETURN false;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE clicks INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part);
    EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK (occurred_at >= %L AND occurred_at < %L)',
                   part, part || '_range', lo, hi);
    EXECUTE format('ALTER TABLE clicks ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', part, lo, hi);
    EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', part, part || '_range');
    RETURN true;
END
$$;

-- Per link × UTC hour: the series of every stats query.
CREATE TABLE click_rollup_hourly (
    code   TEXT NOT NULL,
    hour   TIMESTAMPTZ NOT NULL,
    clicks BIGINT NOT NULL,
    bots   BIGINT NOT NULL,
    PRIMARY KEY (code, hour)
);
-- Per link × UTC day × dimension value: the breakdowns.
CREATE TABLE click_rollup_daily (
    code      TEXT NOT NULL,
    dimension TEXT NOT NULL,
    day       DATE NOT NULL,
    value     TEXT NOT NULL,
    clicks    BIGINT NOT NULL,
    bots      BIGINT NOT NULL,
    PRIMARY KEY (code, dimension, day, value)
);
-- The same per workspace (its top links are the dimension `link`).
CREATE TABLE workspace_rollup_hourly (
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    hour         TIMESTAMPTZ NOT NULL,
    clicks       BIGINT NOT NULL,
    bots         BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, hour)
);
CREATE TABLE workspace_rollup_daily (
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    dimension    TEXT NOT NULL,
    day          DATE NOT NULL,
    value        TEXT NOT NULL,
    clicks       BIGINT NOT NULL,
    bots         BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, dimension, day, value)
);
-- Orphan visits: requests for a code no link has (404), per domain ('' = the default domain)
-- and day, and which clients asked (their salted hashes), for "from how many clients".
CREATE TABLE orphan_visits_daily (
    domain   TEXT NOT NULL,
    day      DATE NOT NULL,
    code     TEXT NOT NULL,
    visits   BIGINT NOT NULL,
    bots     BIGINT NOT NULL,
    first_at TIMESTAMPTZ NOT NULL,
    last_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (domain, day, code)
);
CREATE TABLE orphan_visit_clients (
    domain      TEXT NOT NULL,
    day         DATE NOT NULL,
    code        TEXT NOT NULL,
    client_hash TEXT NOT NULL,
    PRIMARY KEY (domain, day, code, client_hash)
);

-- Adds (sign 1) or takes back (sign -1) the clicks in the session's temporary table
-- clicks_delta (rows shaped like clicks) to every rollup: the links' and their workspaces' for
-- codes a link has, the orphan visits' for clicks whose outcome is `orphan_outcome` (the
-- redirect's 404; the caller passes the name, ghostlink_domain::ClickOutcome::NotFound). Rows
-- are upserted in key order, so concurrent recorders lock rollup rows in the same order.
CREATE FUNCTION click_rollups_apply(sign INTEGER, orphan_outcome TEXT) RETURNS VOID LANGUAGE plpgsql AS $$
BEGIN
    CREATE TEMP TABLE IF NOT EXISTS clicks_delta_dims (
        code TEXT, workspace_id BIGINT, hour TIMESTAMPTZ, day DATE, bot BOOLEAN, dimension TEXT, value TEXT
    ) ON COMMIT DELETE ROWS;
    TRUNCATE clicks_delta_dims;
    INSERT INTO clicks_delta_dims
    SELECT d.code, l.workspace_id,
           date_trunc('hour', d.occurred_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
           (d.occurred_at AT TIME ZONE 'UTC')::date, d.bot, v.dimension, v.value
    FROM clicks_delta d
    JOIN links l ON l.code = d.code
    CROSS JOIN LATERAL (VALUES
        ('country', coalesce(d.country, 'unknown')),
        ('region', coalesce(d.region, 'unknown')),
        ('browser', coalesce(d.browser, 'unknown')),
        ('os', coalesce(d.os, 'unknown')),
        ('device', coalesce(d.device, 'unknown')),
        ('referrer', CASE WHEN d.referrer IS NULL THEN 'direct' ELSE coalesce(d.referrer_host, 'unknown') END),
        ('domain', coalesce(d.domain, 'default')),
        ('rule', coalesce(d.rule::text, 'none')),
        ('traffic', CASE WHEN d.bot THEN 'bot' ELSE 'human' END),
        ('outcome', d.outcome),
        ('link', d.code)
    ) v (dimension, value);

    INSERT INTO click_rollup_hourly AS r (code, hour, clicks, bots)
    SELECT code, hour, sign * count(*), sign * count(*) FILTER (WHERE bot)
    FROM clicks_delta_dims WHERE dimension = 'outcome' GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (code, hour) DO UPDATE SET clicks = r.clicks + excluded.clicks, bots = r.bots + excluded.bots;

    INSERT INTO click_rollup_daily AS r (code, dimension, day, value, clicks, bots)
    SELECT code, dimension, day, value, sign * count(*), sign * count(*) FILTER (WHERE bot)
    FROM clicks_delta_dims WHERE dimension <> 'link' GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
    ON CONFLICT (code, dimension, day, value)
    DO UPDATE SET clicks = r.clicks + excluded.clicks, bots = r.bots + excluded.bots;

    INSERT INTO workspace_rollup_hourly AS r (workspace_id, hour, clicks, bots)
    SELECT workspace_id, hour, sign * count(*), sign * count(*) FILTER (WHERE bot)
    FROM clicks_delta_dims WHERE dimension = 'outcome' GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (workspace_id, hour) DO UPDATE SET clicks = r.clicks + excluded.clicks, bots = r.bots + excluded.bots;

    INSERT INTO workspace_rollup_daily AS r (workspace_id, dimension, day, value, clicks, bots)
    SELECT workspace_id, dimension, day, value, sign * count(*), sign * count(*) FILTER (WHERE bot)
    FROM clicks_delta_dims GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
    ON CONFLICT (workspace_id, dimension, day, value)
    DO UPDATE SET clicks = r.clicks + excluded.clicks, bots = r.bots + excluded.bots;

    INSERT INTO orphan_visits_daily AS r (domain, day, code, visits, bots, first_at, last_at)
    SELECT coalesce(d.domain, ''), (d.occurred_at AT TIME ZONE 'UTC')::date,
           CASE WHEN d.domain IS NULL THEN d.code ELSE substr(d.code, length(d.domain) + 2) END,
           sign * count(*), sign * count(*) FILTER (WHERE d.bot), min(d.occurred_at), max(d.occurred_at)
    FROM clicks_delta d WHERE d.outcome = orphan_outcome GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (domain, day, code) DO UPDATE SET
        visits = r.visits + excluded.visits, bots = r.bots + excluded.bots,
        first_at = least(r.first_at, excluded.first_at), last_at = greatest(r.last_at, excluded.last_at);

    IF sign > 0 THEN
        INSERT INTO orphan_visit_clients (domain, day, code, client_hash)
        SELECT DISTINCT coalesce(d.domain, ''), (d.occurred_at AT TIME ZONE 'UTC')::date,
               CASE WHEN d.domain IS NULL THEN d.code ELSE substr(d.code, length(d.domain) + 2) END,
               d.client_hash
        FROM clicks_delta d WHERE d.outcome = orphan_outcome ORDER BY 1, 2, 3, 4
        ON CONFLICT DO NOTHING;
    END IF;
END
$$;

-- Move what was stored: one partition per day it covers, and today's week ahead.
SELECT clicks_ensure_partition(d::date)
FROM generate_series(
    LEAST((SELECT min(occurred_at) FROM clicks_unpartitioned), now()) AT TIME ZONE 'UTC',
    (now() + interval '7 days') AT TIME ZONE 'UTC',
    interval '1 day') d;
INSERT INTO clicks (event_id, code, occurred_at, outcome, method, user_agent, referrer, client_hash, bot, domain)
SELECT event_id, code, occurred_at, outcome, method, user_agent, referrer, client_hash, bot,
       CASE WHEN position('/' IN code) > 0 THEN split_part(code, '/', 1) END
FROM clicks_unpartitioned;
DROP TABLE clicks_unpartitioned;
ALTER INDEX clicks_code_time_idx2 RENAME TO clicks_code_time_idx;

-- And count it.
CREATE TEMP TABLE clicks_delta AS SELECT * FROM clicks;
SELECT click_rollups_apply(1, 'not_found');
DROP TABLE clicks_delta;
