UPDATE link_checks SET error = error_detail WHERE error_detail IS NOT NULL;
ALTER TABLE link_checks DROP COLUMN error_detail;
