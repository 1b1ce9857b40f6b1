"""The migrations and the sql/ tree build the same database."""

from __future__ import annotations

import psycopg

from catalog import differences, snapshot
from pgwarden import install


def test_migrations_equal_sql_tree(scratch_database, server_dsn):
    """Check that migrating and loading sql/ give identical catalogs."""
    migrated = server_dsn(scratch_database("pgw_drift_migrated"))
    from_tree = server_dsn(scratch_database("pgw_drift_tree"))
    install.apply(migrated)
    with psycopg.connect(from_tree, autocommit=True) as conn:
        install.build_from_tree(conn)
    diff = differences(snapshot(migrated), snapshot(from_tree))
    assert diff == {}
