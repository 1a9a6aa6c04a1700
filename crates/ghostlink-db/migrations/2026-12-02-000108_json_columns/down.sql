ALTER TABLE link_checks
    DROP CONSTRAINT link_checks_redirects_array,
    ALTER COLUMN redirects DROP DEFAULT,
    ALTER COLUMN redirects TYPE text USING redirects::text,
    ALTER COLUMN redirects SET DEFAULT '[]';

ALTER TABLE risk_assessments
    DROP CONSTRAINT risk_assessments_reasons_array,
    ALTER COLUMN reasons TYPE text USING reasons::text;
