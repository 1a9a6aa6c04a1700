-- A check's `error` is what the link's owner is told: a generic reason ("blocked: private
-- address"). The detail (which name resolved to which address, resolver and socket errors)
-- says how the canary's network sees internal names, so it is kept apart for admins.
ALTER TABLE link_checks ADD COLUMN error_detail TEXT;
-- Checks stored before the split hold the detail in `error`.
UPDATE link_checks SET error_detail = error, error = NULL WHERE error IS NOT NULL;
