ALTER TABLE probe_findings DROP COLUMN client_key;
