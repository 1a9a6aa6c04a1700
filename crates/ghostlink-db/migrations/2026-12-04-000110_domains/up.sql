-- Custom domains: a workspace's own host names. A link on one is keyed `host/code` (the code
-- column holds that key, see ghostlink_domain::domains), so the same code may exist on two
-- domains and every table keyed by code keeps working; a link on the default domain keeps its
-- bare code.
CREATE TABLE domains (
    id            BIGSERIAL PRIMARY KEY,
    workspace_id  BIGINT NOT NULL REFERENCES workspaces (id),
    host          TEXT NOT NULL UNIQUE CHECK (host ~ '^[a-z0-9.-]{1,253}$' AND strpos(host, '.') > 0),
    -- Where the redirect sends `GET /` on this host, and a code it does not know (else 404).
    root_url      TEXT CHECK (length(root_url) <= 2048),
    not_found_url TEXT CHECK (length(not_found_url) <= 2048),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX domains_workspace_idx ON domains (workspace_id, host);

-- The domain of a link, derived from its key by the trigger below so that the two can never
-- disagree; a domain with links (deleted ones included: their keys are never reissued) cannot be
-- removed.
ALTER TABLE links ADD COLUMN domain_id BIGINT REFERENCES domains (id);
CREATE INDEX links_domain_idx ON links (domain_id) WHERE domain_id IS NOT NULL;

CREATE FUNCTION links_domain_of_key() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    d domains%ROWTYPE;
BEGIN
    IF strpos(NEW.code, '/') = 0 THEN
        NEW.domain_id := NULL;
        RETURN NEW;
    END IF;
    SELECT * INTO d FROM domains WHERE host = split_part(NEW.code, '/', 1);
    IF NOT FOUND OR d.workspace_id <> NEW.workspace_id THEN
        RAISE EXCEPTION 'link key % names no domain of workspace %', NEW.code, NEW.workspace_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    NEW.domain_id := d.id;
    RETURN NEW;
END $$;
CREATE TRIGGER links_domain_of_key BEFORE INSERT OR UPDATE OF code, workspace_id ON links
    FOR EACH ROW EXECUTE FUNCTION links_domain_of_key();
