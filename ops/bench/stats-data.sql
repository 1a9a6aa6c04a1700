-- Clicks for the stats benchmark (ops/bench/stats.sh), made in SQL: :total clicks over the
-- last 365 days, :hot of them on the link `hot`, the rest spread over :links other links of
-- the default workspace; countries, browsers, referrers and rules drawn from small realistic
-- sets. The rollups are then counted by the recorder's own function (stats.sh), a day at a time.
\set ON_ERROR_STOP on
SET synchronous_commit = off;
SET maintenance_work_mem = '512MB';
SET work_mem = '256MB';

INSERT INTO links (code, url, workspace_id)
SELECT 'hot', 'https://hot.example/', id FROM workspaces WHERE slug = 'default' ON CONFLICT DO NOTHING;
INSERT INTO links (code, url, workspace_id)
SELECT 'l' || g, 'https://l' || g || '.example/', w.id
FROM generate_series(1, :links) g, workspaces w WHERE w.slug = 'default' ON CONFLICT DO NOTHING;

SELECT count(*) AS partitions_made FROM (
  SELECT clicks_ensure_partition(d::date)
  FROM generate_series((now() - interval '366 days') AT TIME ZONE 'UTC', (now() + interval '1 day') AT TIME ZONE 'UTC', interval '1 day') d
) x;

\timing on
INSERT INTO clicks (event_id, code, occurred_at, outcome, method, user_agent, referrer, client_hash, bot,
                    rule, country, region, browser, os, device, referrer_host, domain, bot_reason)
SELECT gen_random_uuid(),
       CASE WHEN g <= :hot THEN 'hot' ELSE 'l' || (1 + g % :links) END,
       now() - (g % 31536000) * interval '1 second' - (g % 7) * interval '1 millisecond',
       CASE WHEN g % 50 = 0 THEN 'gone' ELSE 'redirect' END,
       'GET', 'Mozilla/5.0 bench', CASE WHEN g % 3 = 0 THEN NULL ELSE 'https://ref' || (g % 40) || '.example/' END,
       md5((g % 200000)::text), g % 9 = 0,
       CASE WHEN g % 4 = 0 THEN (g % 3)::smallint END,
       (ARRAY['US','FR','DE','GB','IN','BR','JP','CA','ES','IT','NL','SE'])[1 + g % 12],
       NULL,
       (ARRAY['Chrome','Safari','Firefox','Edge','Opera','Samsung Internet'])[1 + g % 6],
       (ARRAY['windows','macos','ios','android','linux'])[1 + g % 5],
       CASE WHEN g % 9 = 0 THEN 'bot' ELSE (ARRAY['desktop','mobile','tablet'])[1 + g % 3] END,
       CASE WHEN g % 3 = 0 THEN NULL ELSE 'ref' || (g % 40) || '.example' END,
       NULL,
       CASE WHEN g % 9 = 0 THEN 'known_agent' END
FROM generate_series(1, :total) g;
\timing off
