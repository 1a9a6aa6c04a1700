DROP TRIGGER links_domain_of_key ON links;
DROP FUNCTION links_domain_of_key();
DROP INDEX links_domain_idx;
ALTER TABLE links DROP COLUMN domain_id;
DROP TABLE domains;
