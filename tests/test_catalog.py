"""The installed catalog documents itself and is safe by construction."""

from __future__ import annotations

UNDOCUMENTED = """
SELECT kind, name FROM (
    SELECT 'relation' AS kind, c.oid::regclass::text AS name,
           obj_description(c.oid, 'pg_class') AS doc
    FROM pg_class AS c
    WHERE c.relnamespace = 'warden'::regnamespace
      AND c.relkind IN ('r', 'p', 'v', 'm')
      AND NOT c.relispartition
      AND c.relname !~ 'yoyo'
    UNION ALL
    SELECT 'column', c.oid::regclass::text || '.' || a.attname,
           col_description(c.oid, a.attnum)
    FROM pg_class AS c
    JOIN pg_attribute AS a ON a.attrelid = c.oid
    WHERE c.relnamespace = 'warden'::regnamespace
      AND c.relkind IN ('r', 'p', 'v', 'm')
      AND NOT c.relispartition
      AND c.relname !~ 'yoyo'
      AND a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    SELECT 'function', p.oid::regprocedure::text,
           obj_description(p.oid, 'pg_proc')
    FROM pg_proc AS p
    WHERE p.pronamespace = 'warden'::regnamespace
    UNION ALL
    SELECT 'trigger', t.tgname || ' on ' || t.tgrelid::regclass::text,
           obj_description(t.oid, 'pg_trigger')
    FROM pg_trigger AS t
    JOIN pg_class AS c ON c.oid = t.tgrelid
    WHERE c.relnamespace = 'warden'::regnamespace
      AND NOT t.tgisinternal
      AND t.tgparentid = 0
      AND NOT c.relispartition
) AS objects
WHERE doc IS NULL OR btrim(doc) = ''
ORDER BY kind, name
"""


def test_every_object_has_a_comment(db):
    """Check that every table, column, view, function and trigger is commented."""
    assert db.execute(UNDOCUMENTED).fetchall() == []


def test_security_definer_functions_pin_search_path(db):
    """Check that every SECURITY DEFINER function sets its search_path."""
    rows = db.execute(
        """
        SELECT p.oid::regprocedure::text
        FROM pg_proc AS p
        WHERE p.pronamespace = 'warden'::regnamespace
          AND p.prosecdef
          AND NOT EXISTS (
              SELECT 1 FROM unnest(p.proconfig) AS c
              WHERE c LIKE 'search\\_path=%'
                AND c NOT LIKE '%public%' AND c NOT LIKE '%"$user"%'
          )
        """
    ).fetchall()
    assert rows == []


def test_no_function_is_executable_by_public(db):
    """Check that PUBLIC may execute no pgwarden function."""
    rows = db.execute(
        """
        SELECT p.oid::regprocedure::text
        FROM pg_proc AS p
        WHERE p.pronamespace = 'warden'::regnamespace
          AND has_function_privilege('public', p.oid, 'EXECUTE')
        """
    ).fetchall()
    assert rows == []


def test_public_has_no_access_to_the_schema(db):
    """Check that PUBLIC has neither USAGE nor CREATE on the warden schema."""
    assert db.execute(
        "SELECT has_schema_privilege('public', 'warden', 'USAGE'), "
        "has_schema_privilege('public', 'warden', 'CREATE')"
    ).fetchone() == (False, False)


def test_package_roles_cannot_log_in_or_create(db):
    """Check that the package roles are NOLOGIN and own no objects."""
    rows = db.execute(
        "SELECT rolname, rolcanlogin, rolsuper, rolcreaterole FROM pg_roles "
        "WHERE rolname IN ('warden_admin', 'warden_analyst', 'warden_app') "
        "ORDER BY rolname"
    ).fetchall()
    assert [r[0] for r in rows] == ["warden_admin", "warden_analyst", "warden_app"]
    assert all(r[1:] == (False, False, False) for r in rows)
