-- warden._location_network(p_ip inet) RETURNS inet
--
-- The network a location rule compares: IPv4 by /24, IPv6 by /64.
--
-- No SET search_path: a SQL-standard body is resolved when the function
-- is created, so the caller's path cannot change what it means, and
-- without a SET clause PostgreSQL can inline it into the calling query.
CREATE OR REPLACE FUNCTION warden._location_network(
    p_ip inet
)
RETURNS inet
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
RETURN network(set_masklen(
    p_ip, CASE WHEN family(p_ip) = 6 THEN 64 ELSE 24 END
));

COMMENT ON FUNCTION warden._location_network(inet) IS
'Private: the network of an address for location rules (IPv4 /24, '
'IPv6 /64).';

REVOKE ALL ON FUNCTION warden._location_network(inet) FROM PUBLIC;
