-- The latest risk assessment of each link's destination, with the rules that contributed.
CREATE TABLE risk_assessments (
    code        TEXT PRIMARY KEY,
    url         TEXT NOT NULL,
    score       INTEGER NOT NULL CHECK (score BETWEEN 0 AND 100),
    level       TEXT NOT NULL CHECK (level IN ('low', 'medium', 'high', 'blocked')),
    reasons     TEXT NOT NULL,  -- JSON array of {rule, weight, detail}
    assessed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX risk_assessments_level_idx ON risk_assessments (level);
