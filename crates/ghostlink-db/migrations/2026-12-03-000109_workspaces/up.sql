-- Workspaces: a team owns links, tags and API keys; members have a role in it; a key acts for
-- one member with scopes. Every existing token and link moves into the workspace 'default'.
CREATE TABLE workspaces (
    id         BIGSERIAL PRIMARY KEY,
    slug       TEXT NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,38}[a-z0-9]$'),
    name       TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO workspaces (slug, name) VALUES ('default', 'Default');

CREATE TABLE members (
    id           BIGSERIAL PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id),
    name         TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    role         TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    removed_at   TIMESTAMPTZ
);
-- A name is taken once among a workspace's present members.
CREATE UNIQUE INDEX members_name_idx ON members (workspace_id, name) WHERE removed_at IS NULL;

-- Each existing token becomes a member of 'default' of its own name (an admin token an owner),
-- and a key of that member with every scope its role can use.
INSERT INTO members (workspace_id, name, role, created_at)
SELECT (SELECT id FROM workspaces WHERE slug = 'default'), t.name,
       CASE t.role WHEN 'admin' THEN 'owner' ELSE 'member' END, t.created_at
FROM api_tokens t ORDER BY t.id;

ALTER TABLE api_tokens
    ADD COLUMN workspace_id BIGINT REFERENCES workspaces (id),
    ADD COLUMN member_id    BIGINT REFERENCES members (id),
    ADD COLUMN scopes       JSONB NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(scopes) = 'array'),
    ADD COLUMN expires_at   TIMESTAMPTZ,
    ADD COLUMN last_used_at TIMESTAMPTZ;
UPDATE api_tokens t SET
    workspace_id = m.workspace_id,
    member_id = m.id,
    scopes = CASE m.role WHEN 'owner' THEN '["links:read","links:write","analytics:read","workspace:admin"]'::jsonb
                         ELSE '["links:read","links:write","analytics:read"]'::jsonb END
FROM members m WHERE m.name = t.name AND m.workspace_id = (SELECT id FROM workspaces WHERE slug = 'default');
ALTER TABLE api_tokens
    ALTER COLUMN workspace_id SET NOT NULL,
    ALTER COLUMN member_id SET NOT NULL;
-- Names are a workspace's own now: two teams may each have a key named 'ci'.
ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_name_key;
CREATE UNIQUE INDEX api_tokens_name_idx ON api_tokens (workspace_id, name);
CREATE INDEX api_tokens_member_idx ON api_tokens (member_id);

-- Links: their workspace, the member who made them, a title and description, and what the
-- redirect evaluates from the cached link (rules, query forwarding, UTM, a password's hash).
ALTER TABLE links
    ADD COLUMN workspace_id    BIGINT REFERENCES workspaces (id),
    ADD COLUMN owner_member_id BIGINT REFERENCES members (id),
    ADD COLUMN title           TEXT CHECK (length(title) <= 200),
    ADD COLUMN description     TEXT CHECK (length(description) <= 2000),
    ADD COLUMN rules           JSONB NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(rules) = 'array'),
    ADD COLUMN forward_query   BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN utm             JSONB NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(utm) = 'object'),
    ADD COLUMN password_hash   TEXT;
UPDATE links l SET
    workspace_id = (SELECT id FROM workspaces WHERE slug = 'default'),
    owner_member_id = (SELECT t.member_id FROM api_tokens t WHERE t.id = l.owner_token_id);
-- A row written without a workspace (a tool's raw INSERT) goes to 'default'.
CREATE FUNCTION default_workspace_id() RETURNS BIGINT
    LANGUAGE sql STABLE AS $$ SELECT id FROM workspaces WHERE slug = 'default' $$;
ALTER TABLE links
    ALTER COLUMN workspace_id SET NOT NULL,
    ALTER COLUMN workspace_id SET DEFAULT default_workspace_id();
CREATE INDEX links_workspace_idx ON links (workspace_id, id);
CREATE INDEX links_owner_member_idx ON links (owner_member_id, id);

-- Every change of a link's destination: who, when, from what to what.
CREATE TABLE link_revisions (
    id         BIGSERIAL PRIMARY KEY,
    link_id    BIGINT NOT NULL REFERENCES links (id),
    changed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    member_id  BIGINT REFERENCES members (id),
    actor      TEXT NOT NULL,
    old_url    TEXT NOT NULL,
    new_url    TEXT NOT NULL
);
CREATE INDEX link_revisions_link_idx ON link_revisions (link_id, id);

-- Tags: a workspace's own names, many per link.
CREATE TABLE tags (
    id           BIGSERIAL PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id),
    name         TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX tags_name_idx ON tags (workspace_id, lower(name));

CREATE TABLE link_tags (
    link_id BIGINT NOT NULL REFERENCES links (id),
    tag_id  BIGINT NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    PRIMARY KEY (link_id, tag_id)
);
CREATE INDEX link_tags_tag_idx ON link_tags (tag_id, link_id);
