-- warden.log_event(event_type, user_id, ip_address, metadata, record_count,
--                  table_name, risk_score, created_at) RETURNS bigint
--
-- The one call through which applications report a security event. Input
-- that cannot be stored as given is kept, not lost: an unparsable address
-- stays in metadata.raw_ip_address, an empty user id becomes unknown, and
-- metadata.data_quality lists what was wrong (a time before 1970 or more
-- than a day ahead included); a caller's own metadata key of the name of
-- one of these marks is kept under caller_<key>. Input that would make the
-- event mean something else (an unknown type, a risk score outside 1..5, a
-- negative count) is refused with an error naming the value.
--
-- SECURITY DEFINER because reporters (warden_app) may not write the log
-- directly; search_path is pinned and every reference is qualified.
CREATE OR REPLACE FUNCTION warden.log_event(
    event_type text,
    user_id text DEFAULT NULL,
    ip_address text DEFAULT NULL,
    metadata jsonb DEFAULT NULL,
    record_count integer DEFAULT NULL,
    table_name text DEFAULT NULL,
    risk_score integer DEFAULT NULL,
    created_at timestamptz DEFAULT NULL
)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_default_risk smallint;
    v_metadata jsonb := coalesce(log_event.metadata, '{}'::jsonb);
    v_quality text[] := '{}';
    v_own jsonb := '{}';
    v_key text;
    v_free text;
    v_user text := log_event.user_id;
    v_ip inet;
    v_created timestamptz := coalesce(log_event.created_at, now());
    v_role text := current_setting('role');
    v_id bigint;
BEGIN
    SELECT t.default_risk_score
    INTO v_default_risk
    FROM warden.event_types AS t
    WHERE t.event_type = log_event.event_type;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'pgwarden: unknown event type "%"',
            log_event.event_type
            USING ERRCODE = 'invalid_parameter_value',
                DETAIL = 'The event was not stored.',
                HINT = 'Allowed event types: ' || (
                    SELECT string_agg(t.event_type, ', '
                        ORDER BY t.event_type)
                    FROM warden.event_types AS t
                ) || '. A DBA adds types to warden.event_types.';
    END IF;

    IF log_event.risk_score NOT BETWEEN 1 AND 5 THEN
        RAISE EXCEPTION 'pgwarden: risk score % is out of range',
            log_event.risk_score
            USING ERRCODE = 'numeric_value_out_of_range',
                DETAIL = 'The event was not stored.',
                HINT = 'Give a risk score from 1 to 5, or none to use the '
                    || 'default of the event type.';
    END IF;

    IF log_event.record_count < 0 THEN
        RAISE EXCEPTION 'pgwarden: record count % is negative',
            log_event.record_count
            USING ERRCODE = 'numeric_value_out_of_range',
                DETAIL = 'The event was not stored.',
                HINT = 'Give the number of records involved, 0 or more.';
    END IF;

    IF NOT isfinite(v_created) THEN
        RAISE EXCEPTION 'pgwarden: event time % is not a point in time',
            v_created
            USING ERRCODE = 'datetime_field_overflow',
                DETAIL = 'The event was not stored.',
                HINT = 'Give a finite timestamp, or none for now().';
    END IF;

    IF jsonb_typeof(v_metadata) <> 'object' THEN
        v_metadata := jsonb_build_object('raw_metadata', v_metadata);
        v_quality := v_quality || 'metadata_not_object'::text;
    ELSIF jsonb_typeof(v_metadata -> 'data_quality') = 'array' THEN
        SELECT v_quality || array_agg(q)
        INTO v_quality
        FROM jsonb_array_elements_text(v_metadata -> 'data_quality') AS q;
    END IF;

    IF v_user IS NOT NULL AND btrim(v_user) = '' THEN
        v_user := NULL;
        v_quality := v_quality || 'empty_user_id'::text;
    ELSIF length(v_user) > 256 THEN
        -- Longer ids would not fit the per-user index; keep the whole.
        v_own := v_own || jsonb_build_object('raw_user_id', v_user);
        v_user := left(v_user, 256);
        v_quality := v_quality || 'user_id_truncated'::text;
    END IF;

    IF log_event.ip_address IS NOT NULL
        AND btrim(log_event.ip_address) <> '' THEN
        v_ip := warden._parse_inet(log_event.ip_address);
        IF v_ip IS NULL THEN
            v_own := v_own || jsonb_build_object(
                'raw_ip_address', log_event.ip_address
            );
            v_quality := v_quality || 'invalid_ip_address'::text;
        END IF;
    END IF;

    IF v_created > now() + interval '1 day' THEN
        v_quality := v_quality || 'created_at_in_future'::text;
    ELSIF v_created < '1970-01-01 00:00:00+00' THEN
        -- No clock that logs security events reads before the Unix epoch.
        v_quality := v_quality || 'created_at_before_1970'::text;
    END IF;

    -- pgwarden writes its marks over nothing the caller sent: a caller's
    -- raw_user_id or raw_ip_address that pgwarden writes too, or a
    -- data_quality that is no list of marks to merge, is kept under
    -- caller_<key> (as many caller_ as it takes to find a free name).
    IF cardinality(v_quality) > 0 THEN
        IF jsonb_typeof(v_metadata -> 'data_quality') <> 'array' THEN
            v_own := v_own || jsonb_build_object('data_quality', NULL);
        END IF;
        FOR v_key IN
            SELECT k
            FROM jsonb_object_keys(v_own) AS k
            WHERE v_metadata ? k
        LOOP
            v_free := 'caller_' || v_key;
            WHILE v_metadata ? v_free LOOP
                v_free := 'caller_' || v_free;
            END LOOP;
            v_metadata := (v_metadata - v_key)
                || jsonb_build_object(v_free, v_metadata -> v_key);
            v_quality := v_quality || 'metadata_key_renamed'::text;
        END LOOP;
        v_metadata := v_metadata || v_own || jsonb_build_object(
            'data_quality',
            (SELECT jsonb_agg(DISTINCT q) FROM unnest(v_quality) AS q)
        );
    END IF;

    INSERT INTO warden.security_audit_log (
        user_id, event_type, metadata, risk_score, created_at, ip_address,
        table_name, record_count, db_role, session_id, source
    )
    VALUES (
        v_user,
        log_event.event_type,
        v_metadata,
        coalesce(log_event.risk_score, v_default_risk),
        v_created,
        v_ip,
        log_event.table_name,
        log_event.record_count,
        CASE WHEN v_role = 'none' THEN session_user ELSE v_role END,
        warden._session_id(),
        'application'
    )
    RETURNING id INTO v_id;

    RETURN v_id;
END
$$;

COMMENT ON FUNCTION warden.log_event(
    text, text, text, jsonb, integer, text, integer, timestamptz
) IS
'Report a security event; returns its id. Call with named arguments: '
'warden.log_event(''login_failed'', user_id => ..., ip_address => ...). '
'Refuses unknown event types (22023), risk scores outside 1..5 and '
'negative record counts (22003); keeps malformed addresses in metadata.';

REVOKE ALL ON FUNCTION warden.log_event(
    text, text, text, jsonb, integer, text, integer, timestamptz
) FROM PUBLIC;

SELECT warden._grant_execute(
    'warden.log_event(text, text, text, jsonb, integer, text, integer, '
    'timestamptz)',
    role_name
)
FROM unnest(ARRAY['warden_app', 'warden_admin']::name[]) AS role_name;
