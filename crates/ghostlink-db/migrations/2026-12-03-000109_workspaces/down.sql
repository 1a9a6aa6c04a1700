DROP TABLE link_tags;
DROP TABLE tags;
DROP TABLE link_revisions;
DROP INDEX links_owner_member_idx;
DROP INDEX links_workspace_idx;
ALTER TABLE links
    DROP COLUMN password_hash, DROP COLUMN utm, DROP COLUMN forward_query, DROP COLUMN rules,
    DROP COLUMN description, DROP COLUMN title, DROP COLUMN owner_member_id, DROP COLUMN workspace_id;
DROP FUNCTION default_workspace_id();
DROP INDEX api_tokens_member_idx;
DROP INDEX api_tokens_name_idx;
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_name_key UNIQUE (name);
ALTER TABLE api_tokens
    DROP COLUMN last_used_at, DROP COLUMN expires_at, DROP COLUMN scopes, DROP COLUMN member_id,
    DROP COLUMN workspace_id;
DROP TABLE members;
DROP TABLE workspaces;
