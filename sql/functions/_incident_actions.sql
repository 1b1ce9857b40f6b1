-- warden._incident_actions(p_incident_id bigint) RETURNS text[]
--
-- The actions taken on an incident so far, one sentence each, in the order
-- they happened: the locks, blocks and session revocations its alerts
-- caused, the notifications queued, and every lifecycle move of the
-- timeline. Used by the templates ([ACTIONS_TAKEN]) and the incident report.
CREATE OR REPLACE FUNCTION warden._incident_actions(
    p_incident_id bigint
)
RETURNS text[]
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_actions text[];
BEGIN
    WITH alert_ids AS (
        SELECT a.id
        FROM warden.alerts AS a
        WHERE a.incident_id = p_incident_id
    ),
    actions AS (
        SELECT
            l.locked_at AS at,
            format(
                'Account %s %s (%s)%s',
                l.user_id,
                CASE l.kind
                    WHEN 'suspend' THEN 'suspended'
                    ELSE 'locked'
                END,
                CASE
                    WHEN l.expires_at IS NULL THEN 'until lifted'
                    ELSE 'until ' || to_char(
                        l.expires_at AT TIME ZONE 'UTC',
                        'YYYY-MM-DD HH24:MI "UTC"'
                    )
                END,
                CASE
                    WHEN l.lifted_at IS NOT NULL
                        THEN ', lifted by ' || coalesce(l.lifted_by, '?')
                    ELSE ''
                END
            ) AS what
        FROM warden.account_locks AS l
        WHERE l.alert_id IN (SELECT alert_ids.id FROM alert_ids)
        UNION ALL
        SELECT
            b.blocked_at,
            format(
                'Address %s blocked (%s)%s',
                b.network,
                CASE
                    WHEN b.expires_at IS NULL THEN 'until lifted'
                    ELSE 'until ' || to_char(
                        b.expires_at AT TIME ZONE 'UTC',
                        'YYYY-MM-DD HH24:MI "UTC"'
                    )
                END,
                CASE
                    WHEN b.lifted_at IS NOT NULL
                        THEN ', lifted by ' || coalesce(b.lifted_by, '?')
                    ELSE ''
                END
            )
        FROM warden.ip_blocks AS b
        WHERE b.alert_id IN (SELECT alert_ids.id FROM alert_ids)
        UNION ALL
        SELECT
            r.revoked_at,
            format('Sessions of %s revoked (%s ended)', r.user_id,
                r.sessions_ended)
        FROM warden.session_revocations AS r
        WHERE r.alert_id IN (SELECT alert_ids.id FROM alert_ids)
        UNION ALL
        SELECT
            min(o.created_at),
            'Security team notified by '
            || string_agg(DISTINCT o.channel, ', ')
        FROM warden.notification_outbox AS o
        WHERE o.incident_id = p_incident_id
        HAVING count(*) > 0
        UNION ALL
        SELECT
            t.occurred_at,
            format(
                '%s by %s%s',
                CASE t.action
                    WHEN 'opened' THEN 'Alert logged and incident opened'
                    WHEN 'false_positive' THEN 'Marked a false positive'
                    WHEN 'containment_lifted' THEN 'Containment lifted'
                    ELSE initcap(t.action)
                END,
                t.actor,
                coalesce(': ' || t.note, '')
            )
        FROM warden.incident_timeline AS t
        WHERE t.incident_id = p_incident_id
            AND t.action IN ('opened', 'acknowledged', 'investigating',
                'contained', 'resolved', 'false_positive',
                'containment_lifted')
    )
    SELECT array_agg(actions.what ORDER BY actions.at)
    INTO v_actions
    FROM actions;
    RETURN coalesce(v_actions, '{}');
END
$$;

COMMENT ON FUNCTION warden._incident_actions(bigint) IS
'Private: the actions taken on an incident, one sentence each, in order.';

REVOKE ALL ON FUNCTION warden._incident_actions(bigint) FROM PUBLIC;
