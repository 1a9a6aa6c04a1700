-- Which key of a client a ghost-probe finding counted by: 'address_agent' (the address and user
-- agent, the redirect's client_hash), 'address' (the address alone, an IPv6 address by its /64:
-- a client rotating its user agent), '' for link-level findings.
ALTER TABLE probe_findings ADD COLUMN client_key TEXT NOT NULL DEFAULT ''
    CHECK (client_key IN ('', 'address', 'address_agent'));
UPDATE probe_findings SET client_key = 'address_agent' WHERE client <> '';
