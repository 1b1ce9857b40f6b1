"""``pgwarden watch``: run detection on a schedule and deliver notifications.

Every interval it calls ``warden.check_customer_data_access_alerts()``,
``warden.escalate_overdue_incidents()``, ``warden.expire_containment()``,
``warden.seal_audit_log()`` and ``warden.maintain_log_partitions()``.
Between runs it LISTENs on ``warden_alerts`` (new alerts are shown at once)
and ``warden_outbox`` (new messages are delivered at once), and delivers
whatever is due in the outbox: stdout, webhook and e-mail. It stops cleanly
on SIGINT and SIGTERM and reconnects when the database goes away; messages
queued meanwhile stay in the outbox until it is back.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType

import click
import psycopg
from psycopg import sql

from pgwarden.cli import dsn_option, handle_errors
from pgwarden.db import connect, describe, require_dsn
from pgwarden.delivery import (
    Router,
    SmtpTransport,
    StdoutTransport,
    WebhookTransport,
    deliver_outbox,
)
from pgwarden.errors import ConfigurationError, from_database

log = logging.getLogger(__name__)

CHANNELS = ("warden_alerts", "warden_outbox")
#: Longest wait for a notification, so that a stop request is seen soon.
TICK = 1.0
#: Longest pause between reconnection attempts.
MAX_RECONNECT_DELAY = 30.0


@dataclass
class CycleReport:
    """What one scheduled cycle did."""

    alerts: int = 0
    escalated: int = 0
    expired: int = 0
    sent: int = 0
    failed: int = 0
    notes: list[str] = field(default_factory=list)


class Watcher:
    """The loop of ``pgwarden watch``, usable from tests and cron."""

    def __init__(
        self,
        dsn: str,
        router: Router,
        *,
        interval: float = 60.0,
        echo=click.echo,
    ) -> None:
        self.dsn = dsn
        self.router = router
        self.interval = interval
        self.echo = echo
        self.stop_event = threading.Event()
        self.conn: psycopg.Connection | None = None

    def stop(self, signum: int | None = None, frame: FrameType | None = None) -> None:
        """Ask the loop to stop after the current step."""
        if signum is not None:
            log.info("received signal %d, stopping", signum)
        self.stop_event.set()

    # one cycle --------------------------------------------------------
    def run_checks(self, conn: psycopg.Connection) -> CycleReport:
        """Run detection and escalation once; return what they did."""
        report = CycleReport()
        rows = conn.execute(
            "SELECT id, rule, severity, coalesce(user_id, host(ip_address)) "
            "FROM warden.check_customer_data_access_alerts()"
        ).fetchall()
        report.alerts = len(rows)
        for alert_id, rule, severity, who in rows:
            self.echo(f"alert {alert_id}: {severity} {rule} ({who or '-'})")
        report.escalated = (
            conn.execute("SELECT warden.escalate_overdue_incidents()").fetchone()[0]
            or 0
        )
        # Locks and blocks whose time passed are recorded as lifted, so the
        # log shows when they ended (they stop counting on their own).
        report.expired = (
            conn.execute("SELECT warden.expire_containment()").fetchone()[0] or 0
        )
        # Seal the events no open transaction can still add to, and keep the
        # coming months' partitions ready; both return at once when there is
        # nothing to do.
        conn.execute("SELECT warden.seal_audit_log()")
        conn.execute("SELECT count(*) FROM warden.maintain_log_partitions()")
        return report

    def deliver(self, conn: psycopg.Connection, report: CycleReport) -> None:
        """Deliver everything that is due in the outbox."""
        result = deliver_outbox(conn, self.router)
        report.sent += result.sent
        report.failed += result.failed

    def once(self) -> CycleReport:
        """One cycle on a fresh connection (``--once``, cron)."""
        with connect(self.dsn) as conn:
            report = self.run_checks(conn)
            self.deliver(conn, report)
        return report

    # the loop ---------------------------------------------------------
    def listen(self) -> psycopg.Connection:
        """Open the connection of the loop and LISTEN on both channels."""
        conn = psycopg.connect(
            self.dsn, autocommit=True, application_name="pgwarden watch"
        )
        for channel in CHANNELS:
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
        return conn

    def loop(self) -> None:
        """Run until stopped; reconnect with backoff when the server goes.

        The first connection must succeed (a wrong DSN or password is an
        error, not something to retry for ever); after that, a lost
        connection is retried until it comes back.
        """
        delay = 1.0
        connected = False
        while not self.stop_event.is_set():
            try:
                self.conn = self.listen()
                connected = True
                log.info("watching %s", describe(self.dsn))
                delay = 1.0
                self._serve(self.conn)
            except psycopg.OperationalError as exc:
                if not connected:
                    raise
                if self.stop_event.is_set():
                    break
                self.echo(
                    f"pgwarden watch: connection lost ({str(exc).strip()[:200]});"
                    f" retrying in {delay:.0f} s",
                    err=True,
                )
                self.stop_event.wait(delay)
                delay = min(delay * 2, MAX_RECONNECT_DELAY)
            finally:
                if self.conn is not None:
                    with contextlib.suppress(psycopg.Error):
                        self.conn.close()
                    self.conn = None

    def guarded(
        self,
        conn: psycopg.Connection,
        step: Callable[[psycopg.Connection], CycleReport | None],
    ) -> CycleReport | None:
        """Run one step; a database error is shown and the loop goes on.

        A lost connection is left to :meth:`loop`, which reconnects; any
        other error (a lock timeout, a function that fails) must not stop
        the delivery of notifications, so it is reported and retried at
        the next turn.
        """
        try:
            return step(conn)
        except psycopg.OperationalError:
            raise
        except psycopg.Error as exc:
            self.echo(f"pgwarden watch: {from_database(exc).one_line()}", err=True)
            return None

    def _serve(self, conn: psycopg.Connection) -> None:
        next_check = time.monotonic()
        while not self.stop_event.is_set():
            report = CycleReport()
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + self.interval
                report = self.guarded(conn, self.run_checks) or report
            self.guarded(conn, functools.partial(self.deliver, report=report))
            if report.alerts or report.sent or report.failed or report.escalated:
                log.info(
                    "%d alerts, %d escalated, %d sent, %d failed",
                    report.alerts,
                    report.escalated,
                    report.sent,
                    report.failed,
                )
            wait = max(0.0, min(TICK, next_check - time.monotonic()))
            # The generator holds the connection: collect, then query.
            notes = list(conn.notifies(timeout=wait, stop_after=1))
            for note in notes:
                if note.channel == "warden_alerts":
                    # The real-time rules raised it; the incident and its
                    # messages follow from the trigger on alerts.
                    self.echo(self.describe_alert(conn, note.payload))

    def describe_alert(self, conn: psycopg.Connection, payload: str) -> str:
        """One line about the alert a notification names."""
        if not payload.strip().isdigit():
            return f"new alert {payload}"
        row = conn.execute(
            "SELECT severity, rule, coalesce(user_id, host(ip_address)) "
            "FROM warden.alerts WHERE id = %s",
            (int(payload),),
        ).fetchone()
        if row is None:
            return f"new alert {payload}"
        severity, rule, who = row
        return f"new alert {payload}: {severity} {rule} ({who or '-'})"


def build_router(
    *,
    webhook_url: str | None,
    webhook_retries: int,
    smtp_host: str | None,
    smtp_port: int,
    smtp_from: str,
    smtp_user: str | None,
    smtp_starttls: bool,
    smtp_ssl: bool,
    email_to: tuple[str, ...],
) -> Router:
    """The transports the options ask for."""
    addresses: dict[str, str] = {}
    for pair in email_to:
        name, sep, address = pair.partition("=")
        if not sep or "@" not in address:
            raise ConfigurationError(
                f"--email-to {pair!r} is not NAME=ADDRESS",
                hint="for example --email-to security-manager=soc@example.com",
            )
        addresses[name] = address
    router = Router(stdout=StdoutTransport())
    if webhook_url:
        router.webhook = WebhookTransport(webhook_url, retries=webhook_retries)
    if smtp_host:
        router.smtp = SmtpTransport(
            smtp_host,
            smtp_port,
            sender=smtp_from,
            username=smtp_user,
            password=os.environ.get("PGWARDEN_SMTP_PASSWORD"),
            starttls=smtp_starttls,
            use_ssl=smtp_ssl,
            addresses=addresses,
        )
    return router


@click.command()
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=60.0,
    show_default=True,
    help="Seconds between detection runs.",
)
@click.option(
    "--once", is_flag=True, help="Run one cycle (detect, escalate, deliver) and exit."
)
@click.option(
    "--webhook-url",
    envvar="PGWARDEN_WEBHOOK_URL",
    show_envvar=True,
    help="POST webhook, dashboard and SMS messages here as JSON.",
)
@click.option(
    "--webhook-retries",
    type=click.IntRange(0, 10),
    default=3,
    show_default=True,
    help="Immediate retries of a failed POST.",
)
@click.option(
    "--smtp-host",
    envvar="PGWARDEN_SMTP_HOST",
    show_envvar=True,
    help="Send e-mail messages through this SMTP server.",
)
@click.option(
    "--smtp-port", envvar="PGWARDEN_SMTP_PORT", type=int, default=25, show_default=True
)
@click.option(
    "--smtp-from",
    envvar="PGWARDEN_SMTP_FROM",
    default="pgwarden@localhost",
    show_default=True,
    help="Sender address of e-mail messages.",
)
@click.option(
    "--smtp-user",
    envvar="PGWARDEN_SMTP_USER",
    help="SMTP login (password from PGWARDEN_SMTP_PASSWORD).",
)
@click.option("--smtp-starttls", is_flag=True, help="Use STARTTLS.")
@click.option("--smtp-ssl", is_flag=True, help="Use SMTP over TLS.")
@click.option(
    "--email-to",
    multiple=True,
    metavar="NAME=ADDRESS",
    help="Address of a recipient name of the outbox "
    "(security-manager, management); repeatable.",
)
@dsn_option
@handle_errors
def watch(
    interval: float,
    once: bool,
    webhook_url: str | None,
    webhook_retries: int,
    smtp_host: str | None,
    smtp_port: int,
    smtp_from: str,
    smtp_user: str | None,
    smtp_starttls: bool,
    smtp_ssl: bool,
    email_to: tuple[str, ...],
    dsn: str | None,
) -> None:
    """Run detection every interval and deliver notifications until stopped."""
    router = build_router(
        webhook_url=webhook_url,
        webhook_retries=webhook_retries,
        smtp_host=smtp_host,
        smtp_port=smtp_port,
        smtp_from=smtp_from,
        smtp_user=smtp_user,
        smtp_starttls=smtp_starttls,
        smtp_ssl=smtp_ssl,
        email_to=email_to,
    )
    watcher = Watcher(require_dsn(dsn), router, interval=interval)
    if once:
        report = watcher.once()
        click.echo(
            f"{report.alerts} alerts, {report.escalated} incidents escalated, "
            f"{report.sent} messages sent, {report.failed} failed"
        )
        return
    previous = {
        sig: signal.signal(sig, watcher.stop) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        watcher.loop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo("pgwarden watch stopped")
