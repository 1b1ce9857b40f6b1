"""Delivery of the notification outbox: stdout, webhook and SMTP transports."""

from __future__ import annotations

import io
import json
import socketserver
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from pgwarden.delivery import (
    DeliveryError,
    Message,
    Router,
    SmtpTransport,
    StdoutTransport,
    WebhookTransport,
    deliver_outbox,
)


class Hook(BaseHTTPRequestHandler):
    """Records POSTed JSON; answers with the next queued status code."""

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        server = self.server
        server.bodies.append(json.loads(self.rfile.read(length)))
        status = server.statuses.pop(0) if server.statuses else 200
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def webhook() -> Iterator[HTTPServer]:
    """A local HTTP server on 127.0.0.1 in a thread."""
    server = HTTPServer(("127.0.0.1", 0), Hook)
    server.bodies = []
    server.statuses = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_port}/hook"
    yield server
    server.shutdown()
    server.server_close()


class SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP to accept messages and keep them."""

    def reply(self, text: str) -> None:
        self.wfile.write(text.encode() + b"\r\n")

    def handle(self) -> None:
        self.reply("220 test ESMTP")
        while True:
            line = self.rfile.readline().decode().strip()
            verb = line[:4].upper()
            if not line or verb == "QUIT":
                self.reply("221 bye")
                return
            if verb in ("EHLO", "HELO"):
                self.reply("250 test")
            elif verb == "DATA":
                self.reply("354 go on")
                lines = []
                while (data := self.rfile.readline()) not in (b".\r\n", b""):
                    lines.append(data.decode())
                self.server.messages.append("".join(lines))
                self.reply("250 queued")
            elif verb == "RCPT":
                self.server.rcpts.append(line)
                self.reply("250 ok")
            else:
                self.reply("250 ok")


@pytest.fixture
def smtp_server() -> Iterator[socketserver.ThreadingTCPServer]:
    """A minimal SMTP server on 127.0.0.1 in a thread."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), SmtpHandler)
    server.daemon_threads = True
    server.messages = []
    server.rcpts = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def message(channel: str = "webhook", recipient: str = "security-manager"):
    """A message as claimed from the outbox."""
    return Message(
        1,
        channel,
        recipient,
        "CRITICAL INC-1",
        "body text",
        {"reference": "INC-1"},
        incident_id=None,
    )


def queue(db, channel: str, recipient: str, subject: str = "s") -> int:
    """Insert one pending row into the outbox; return its id."""
    return db.execute(
        "INSERT INTO warden.notification_outbox (channel, recipient, subject, "
        "body, payload) VALUES (%s, %s, %s, 'body', '{\"k\": 1}') RETURNING id",
        (channel, recipient, subject),
    ).fetchone()[0]


def test_webhook_posts_json(webhook):
    """Check that a webhook message arrives as JSON with its fields."""
    WebhookTransport(webhook.url).send(message())
    assert webhook.bodies[0]["subject"] == "CRITICAL INC-1"
    assert webhook.bodies[0]["payload"] == {"reference": "INC-1"}


def test_webhook_retries_server_errors_with_backoff(webhook):
    """Check that 5xx answers are retried, waiting longer each time."""
    webhook.statuses = [503, 500]
    waits: list[float] = []
    WebhookTransport(webhook.url, backoff=0.1, sleep=waits.append).send(message())
    assert len(webhook.bodies) == 3
    assert waits == [0.1, 0.2]


def test_webhook_client_error_is_final(webhook):
    """Check that a 4xx answer is not retried and raises DeliveryError."""
    webhook.statuses = [404]
    with pytest.raises(DeliveryError):
        WebhookTransport(webhook.url, sleep=lambda s: None).send(message())
    assert len(webhook.bodies) == 1


def test_smtp_sends_to_mapped_address(smtp_server):
    """Check that an e-mail reaches the SMTP server at the mapped address."""
    port = smtp_server.server_address[1]
    transport = SmtpTransport(
        "127.0.0.1", port, addresses={"security-manager": "soc@example.com"}
    )
    transport.send(message("email"))
    assert "soc@example.com" in smtp_server.rcpts[0]
    assert "Subject: CRITICAL INC-1" in smtp_server.messages[0]


def test_smtp_unknown_recipient_is_a_delivery_error():
    """Check that a recipient name without address fails cleanly."""
    with pytest.raises(DeliveryError):
        SmtpTransport("127.0.0.1", 1).send(message("email"))


def test_outbox_is_delivered_and_marked_sent(db, webhook, smtp_server):
    """Check that stdout, webhook and e-mail rows are sent and marked."""
    ids = [
        queue(db, "dashboard", "security-dashboard"),
        queue(db, "email", "security-manager"),
        queue(db, "stdout", "console"),
    ]
    out = io.StringIO()
    router = Router(
        stdout=StdoutTransport(out),
        webhook=WebhookTransport(webhook.url),
        smtp=SmtpTransport(
            "127.0.0.1",
            smtp_server.server_address[1],
            addresses={"security-manager": "soc@example.com"},
        ),
    )
    report = deliver_outbox(db, router)
    assert (report.sent, report.failed) == (3, 0)
    statuses = dict(
        db.execute("SELECT id, status FROM warden.notification_outbox").fetchall()
    )
    assert statuses == dict.fromkeys(ids, "sent")
    assert webhook.bodies[0]["channel"] == "dashboard"
    assert len(smtp_server.messages) == 1
    assert "[stdout -> console]" in out.getvalue()


def test_failed_delivery_stays_in_the_outbox(db, webhook):
    """Check that an undeliverable message goes back to pending, not lost."""
    queue(db, "webhook", "ops")
    webhook.statuses = [500, 500]
    router = Router(
        webhook=WebhookTransport(webhook.url, retries=1, sleep=lambda s: None)
    )
    report = deliver_outbox(db, router)
    assert report.failed == 1
    status, attempts, error = db.execute(
        "SELECT status, attempts, last_error FROM warden.notification_outbox"
    ).fetchone()
    assert (status, attempts) == ("pending", 1)
    assert "HTTP 500" in error
