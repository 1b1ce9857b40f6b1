"""Finding and opening the database pgwarden works in."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from pgwarden.errors import ConfigurationError

log = logging.getLogger(__name__)

#: libpq environment variables that name a server or database on their own.
LIBPQ_VARIABLES = (
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGDATABASE",
    "PGSERVICE",
    "PGUSER",
)


def resolve_dsn(dsn: str | None) -> str | None:
    """Return the connection string to use, or None when nothing names one.

    The order is: the ``--dsn`` option, ``DATABASE_URL``, then the libpq
    ``PG*`` variables (returned as an empty string, which libpq completes
    from the environment).
    """
    if dsn:
        return dsn
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    if any(os.environ.get(name) for name in LIBPQ_VARIABLES):
        return ""
    return None


def require_dsn(dsn: str | None) -> str:
    """Like :func:`resolve_dsn`, but fail when no database is named."""
    resolved = resolve_dsn(dsn)
    if resolved is None:
        raise ConfigurationError(
            "no database given",
            hint="pass --dsn, or set DATABASE_URL or the libpq PG* variables",
        )
    return resolved


def describe(dsn: str) -> str:
    """Return the database and host of a DSN, never its password."""
    try:
        params = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "<unparsable connection string>"
    host = params.get("host") or os.environ.get("PGHOST") or "local socket"
    dbname = params.get("dbname") or os.environ.get("PGDATABASE") or "default"
    return f"database {dbname} on {host}"


@contextmanager
def connect(dsn: str, *, autocommit: bool = True) -> Iterator[psycopg.Connection]:
    """Open a connection with pgwarden's application name."""
    log.debug("connecting to %s", describe(dsn))
    conn = psycopg.connect(dsn, autocommit=autocommit, application_name="pgwarden")
    try:
        yield conn
    finally:
        conn.close()
