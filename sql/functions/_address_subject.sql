-- warden._address_subject(p_ip inet) RETURNS inet
--
-- The source a brute-force rule counts over: an IPv4 address as it is, an
-- IPv6 address by its /64 network (one host usually holds a whole /64).
-- The same expression is indexed by security_audit_log_failed_ip_idx;
-- keep the two alike.
--
-- No SET search_path: a SQL-standard body is resolved when the function
-- is created, so the caller's path cannot change what it means, and
-- without a SET clause PostgreSQL can inline it into the calling query.
CREATE OR REPLACE FUNCTION warden._address_subject(
    p_ip inet
)
RETURNS inet
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
RETURN CASE WHEN family(p_ip) = 6
    THEN network(set_masklen(p_ip, 64)) ELSE p_ip END;

COMMENT ON FUNCTION warden._address_subject(inet) IS
'Private: the source address a brute-force rule counts over (IPv6 by /64).';

REVOKE ALL ON FUNCTION warden._address_subject(inet) FROM PUBLIC;
