-- warden.escalate_overdue_incidents() RETURNS integer
--
-- Run by the scheduler (`pgwarden watch`): every incident still
-- unacknowledged after its deadline goes to escalation level 4 and a
-- management notification is queued. Returns the number of incidents
-- escalated; running it again escalates nothing twice. Incidents another
-- session holds are left for the next run rather than waited for.
--
-- SECURITY DEFINER because it changes incidents and queues notifications,
-- which no package role may do directly.
CREATE OR REPLACE FUNCTION warden.escalate_overdue_incidents()
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_inc record;
    v_count integer := 0;
BEGIN
    FOR v_inc IN
        SELECT i.id, i.reference, i.due_at
        FROM warden.incidents AS i
        WHERE i.status = 'open'
            AND i.acknowledged_at IS NULL
            AND i.due_at < now()
            AND i.escalation_level < 4
        ORDER BY i.due_at, i.id
        FOR UPDATE SKIP LOCKED
    LOOP
        PERFORM warden._incident_escalate(
            v_inc.id, 4, 'pgwarden',
            format('Deadline %s passed unacknowledged; management '
                'notified.', warden._incident_time(v_inc.due_at))
        );
        v_count := v_count + 1;
    END LOOP;
    RAISE DEBUG 'escalate_overdue_incidents: % escalated', v_count;
    RETURN v_count;
END
$$;

COMMENT ON FUNCTION warden.escalate_overdue_incidents() IS
'Escalate unacknowledged incidents past their deadline to level 4 and '
'queue a management notification; returns how many were escalated.';

REVOKE ALL ON FUNCTION warden.escalate_overdue_incidents() FROM PUBLIC;

SELECT warden._grant_execute(
    'warden.escalate_overdue_incidents()', 'warden_admin'
);
