-- JSON kept as text becomes jsonb: Postgres refuses a value that is not JSON, and a CHECK
-- refuses one that is not the array the readers expect (a risk assessment's reasons, a check's
-- redirect chain), so a bad row cannot be written instead of being read as "no reasons".
-- The outbox's payload stays text: it is the exact bytes the relay publishes.
ALTER TABLE risk_assessments
    ALTER COLUMN reasons TYPE jsonb USING reasons::jsonb,
    ADD CONSTRAINT risk_assessments_reasons_array CHECK (jsonb_typeof(reasons) = 'array');

ALTER TABLE link_checks
    ALTER COLUMN redirects DROP DEFAULT,
    ALTER COLUMN redirects TYPE jsonb USING redirects::jsonb,
    ALTER COLUMN redirects SET DEFAULT '[]'::jsonb,
    ADD CONSTRAINT link_checks_redirects_array CHECK (jsonb_typeof(redirects) = 'array');
