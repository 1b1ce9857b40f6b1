"""Errors of pgwarden, and the one place where database errors become them."""

from __future__ import annotations

import psycopg


class PgwardenError(Exception):
    """Base class of the errors pgwarden reports to its user."""

    def __init__(
        self,
        message: str,
        *,
        sqlstate: str | None = None,
        detail: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.sqlstate = sqlstate
        self.detail = detail
        self.hint = hint

    def one_line(self) -> str:
        """Return the error as one line: SQLSTATE, message and hint."""
        parts = []
        if self.sqlstate:
            parts.append(f"[{self.sqlstate}]")
        parts.append(self.message)
        if self.hint:
            parts.append(f"(hint: {self.hint})")
        return " ".join(parts)


class ConfigurationError(PgwardenError):
    """No database given, or a setting that cannot work."""


class InputRefused(PgwardenError):
    """The database refused an event as invalid (SQLSTATE class 22)."""


class AccessDenied(PgwardenError):
    """The actor is locked, blocked or lacks a privilege (SQLSTATE 42501)."""


class InstallError(PgwardenError):
    """Installing, upgrading or removing the schema failed."""


def from_database(exc: psycopg.Error) -> PgwardenError:
    """Map a psycopg error to the pgwarden error its SQLSTATE means."""
    diag = exc.diag
    sqlstate = diag.sqlstate or getattr(exc, "sqlstate", None)
    message = diag.message_primary or str(exc).strip().splitlines()[0]
    kwargs = {
        "sqlstate": sqlstate,
        "detail": diag.message_detail,
        "hint": diag.message_hint,
    }
    if sqlstate and sqlstate.startswith("22"):
        return InputRefused(message, **kwargs)
    if sqlstate == "42501":
        return AccessDenied(message, **kwargs)
    return PgwardenError(message, **kwargs)
