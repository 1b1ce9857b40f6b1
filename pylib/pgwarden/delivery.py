"""Delivering the notification outbox: stdout, webhook and e-mail.

The database queues messages in ``warden.notification_outbox``; a
deliverer claims due rows (``warden.claim_notifications``), hands each to
its transport and reports the outcome (``warden.complete_notification``).
A row is marked sent only after its transport succeeded, so delivery is at
least once: a deliverer that dies between sending and reporting leaves the
row claimed, and the claim lapses so that another run sends it again. A
failure goes back to pending with the database's backoff.

Channels map to transports as follows: ``email`` goes over SMTP when an
SMTP host is configured; ``webhook`` is POSTed to its recipient when that
is a URL, else to the configured webhook URL; ``dashboard`` and ``sms``
go to the webhook when one is configured. Whatever has no transport of its
own is written to standard output, so nothing is silently dropped.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import smtplib
import ssl
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, Protocol, TextIO

import psycopg
from psycopg.rows import dict_row

from pgwarden.output import plain

log = logging.getLogger(__name__)


class DeliveryError(Exception):
    """A transport could not deliver a message; the text says why."""


@dataclass(frozen=True)
class Message:
    """One claimed row of warden.notification_outbox."""

    id: int
    channel: str
    recipient: str
    subject: str
    body: str
    payload: dict[str, Any]
    incident_id: int | None = None
    attempts: int = 0
    created_at: dt.datetime | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Message:
        """Build a message from a claimed outbox row (dict_row)."""
        return cls(
            id=row["id"],
            channel=row["channel"],
            recipient=row["recipient"],
            subject=row["subject"],
            body=row["body"],
            payload=row.get("payload") or {},
            incident_id=row.get("incident_id"),
            attempts=row.get("attempts") or 0,
            created_at=row.get("created_at"),
        )

    def as_json(self) -> dict[str, Any]:
        """The message as a webhook body."""
        return plain(
            {
                "id": self.id,
                "channel": self.channel,
                "recipient": self.recipient,
                "subject": self.subject,
                "body": self.body,
                "payload": self.payload,
                "incident_id": self.incident_id,
                "created_at": self.created_at,
            }
        )


class Transport(Protocol):
    """Something that delivers a message or raises DeliveryError."""

    name: str

    def send(self, message: Message) -> None: ...


@dataclass
class StdoutTransport:
    """Writes each message to a stream (standard output by default)."""

    stream: TextIO | None = None
    name: str = "stdout"

    def send(self, message: Message) -> None:
        out = self.stream or sys.stdout
        ref = message.payload.get("reference") or message.incident_id or "-"
        out.write(
            f"--- [{message.channel} -> {message.recipient}] {ref}: "
            f"{message.subject}\n{message.body}\n"
        )
        out.flush()


@dataclass
class WebhookTransport:
    """HTTP POST of the message as JSON, with retries and backoff.

    Connection errors, timeouts and 5xx/429 answers are retried up to
    ``retries`` times, waiting ``backoff`` seconds doubled each time; any
    other 4xx is final. What still fails is reported to the outbox, which
    retries later with its own backoff.
    """

    url: str
    timeout: float = 10.0
    retries: int = 3
    backoff: float = 0.5
    headers: dict[str, str] = field(default_factory=dict)
    sleep: Callable[[float], None] = time.sleep
    name: str = "webhook"

    def send(self, message: Message, url: str | None = None) -> None:
        target = url or self.url
        data = json.dumps(message.as_json()).encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "pgwarden",
            "Idempotency-Key": f"pgwarden-outbox-{message.id}",
            **self.headers,
        }
        delay = self.backoff
        last = "no attempt made"
        for attempt in range(self.retries + 1):
            request = urllib.request.Request(  # noqa: S310
                target, data=data, headers=headers, method="POST"
            )
            try:
                with urllib.request.urlopen(  # noqa: S310
                    request, timeout=self.timeout
                ) as response:
                    response.read()
                    return
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code} from {target}"
                if exc.code < 500 and exc.code != 429:
                    raise DeliveryError(last) from exc
            except (urllib.error.URLError, TimeoutError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                last = f"{target}: {reason}"
            if attempt < self.retries:
                log.debug("webhook attempt %d failed: %s", attempt + 1, last)
                self.sleep(delay)
                delay *= 2
        raise DeliveryError(last)


@dataclass
class SmtpTransport:
    """E-mail over SMTP (smtplib), optionally with STARTTLS or TLS.

    Recipients that contain ``@`` are addresses; other recipients are
    logical names (``security-manager``) looked up in ``addresses``.
    """

    host: str
    port: int = 25
    sender: str = "pgwarden@localhost"
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    use_ssl: bool = False
    timeout: float = 10.0
    addresses: dict[str, str] = field(default_factory=dict)
    name: str = "smtp"

    def address_of(self, recipient: str) -> str:
        """The e-mail address of a recipient name."""
        if "@" in recipient:
            return recipient
        try:
            return self.addresses[recipient]
        except KeyError:
            raise DeliveryError(
                f"no e-mail address for recipient {recipient!r} "
                f"(give --email-to {recipient}=ADDRESS)"
            ) from None

    def send(self, message: Message) -> None:
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = self.address_of(message.recipient)
        mail["Subject"] = message.subject
        mail["Message-ID"] = f"<pgwarden-outbox-{message.id}@pgwarden>"
        mail.set_content(message.body)
        try:
            if self.use_ssl:
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host,
                    self.port,
                    timeout=self.timeout,
                    context=ssl.create_default_context(),
                )
            else:
                client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with client:
                if self.starttls:
                    client.starttls(context=ssl.create_default_context())
                if self.username:
                    client.login(self.username, self.password or "")
                client.send_message(mail)
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP {self.host}:{self.port}: {exc}") from exc


@dataclass
class Router:
    """Chooses the transport of each channel (see the module text)."""

    stdout: StdoutTransport = field(default_factory=StdoutTransport)
    webhook: WebhookTransport | None = None
    smtp: SmtpTransport | None = None

    def send(self, message: Message) -> str:
        """Deliver one message; return the transport's name."""
        if message.channel == "email" and self.smtp is not None:
            self.smtp.send(message)
            return self.smtp.name
        if message.channel == "webhook" and message.recipient.startswith(
            ("http://", "https://")
        ):
            transport = self.webhook or WebhookTransport(message.recipient)
            transport.send(message, url=message.recipient)
            return "webhook"
        if (
            message.channel in ("webhook", "dashboard", "sms")
            and self.webhook is not None
        ):
            self.webhook.send(message)
            return self.webhook.name
        self.stdout.send(message)
        return self.stdout.name


@dataclass
class DeliveryReport:
    """What one pass over the outbox did."""

    sent: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def deliver_outbox(
    conn: psycopg.Connection, router: Router, *, limit: int = 50
) -> DeliveryReport:
    """Claim due notifications, deliver them and report each outcome.

    Claims batches of ``limit`` until none is due. Each claim commits
    before delivery (so that other deliverers skip the rows); each
    outcome commits on its own.
    """
    report = DeliveryReport()
    while True:
        with conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(
                "SELECT * FROM warden.claim_notifications(%s)", (limit,)
            ).fetchall()
        if not conn.autocommit:
            conn.commit()
        if not rows:
            return report
        for row in rows:
            message = Message.from_row(row)
            error: str | None = None
            try:
                via = router.send(message)
                log.debug("outbox %d sent via %s", message.id, via)
            except DeliveryError as exc:
                error = str(exc)[:1000]
                log.warning(
                    "outbox %d (%s) not delivered: %s",
                    message.id,
                    message.channel,
                    error,
                )
            conn.execute(
                "SELECT warden.complete_notification(%s, %s)",
                (message.id, error),
            )
            if not conn.autocommit:
                conn.commit()
            if error is None:
                report.sent += 1
            else:
                report.failed += 1
                report.errors.append(error)
        if len(rows) < limit:
            return report
