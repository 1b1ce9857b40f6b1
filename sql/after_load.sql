-- Run after every load of the sql/ tree: the partitions of the event log
-- around now, and the append-only triggers on every partition.
SELECT count(*) AS partitions_created
FROM warden.maintain_log_partitions();

SELECT warden._protect_log_partition(i.inhrelid::regclass)
FROM pg_catalog.pg_inherits AS i
WHERE i.inhparent = 'warden.security_audit_log'::regclass;
