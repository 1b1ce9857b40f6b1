"""An embedded PostgreSQL (the ``pgserver`` package) for demos and tests.

It works as root too: pgserver runs the server as an unprivileged user of
its own. The server and its data live in a temporary folder and are removed
when the context ends.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from pgwarden.errors import ConfigurationError

log = logging.getLogger(__name__)


@contextmanager
def embedded_server(*, keep: bool = False) -> Iterator[str]:
    """Start an embedded PostgreSQL 16 and yield its connection URI."""
    try:
        import pgserver
    except ImportError as exc:
        raise ConfigurationError(
            "the embedded PostgreSQL is not installed",
            hint="pip install 'pgwarden[embedded]', or give --dsn",
        ) from exc
    folder = tempfile.mkdtemp(prefix="pgwarden-")
    log.debug("starting embedded PostgreSQL in %s", folder)
    # The server would take its port from PGPORT (and so name its socket
    # after it) when the caller's environment sets one for another server.
    saved = {k: os.environ.pop(k) for k in ("PGPORT", "PGHOST") if k in os.environ}
    try:
        server = pgserver.get_server(folder, cleanup_mode=None if keep else "stop")
    finally:
        os.environ.update(saved)
    try:
        yield server.get_uri()
    finally:
        if not keep:
            server.cleanup()
            shutil.rmtree(folder, ignore_errors=True)
