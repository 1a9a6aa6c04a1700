DROP TABLE probe_findings;
DROP TABLE link_checks;
DROP TABLE link_health;
