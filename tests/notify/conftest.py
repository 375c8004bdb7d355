"""Real receivers on localhost: an HTTP server (Slack-compatible API, webhooks) and an SMTP server."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import Message as MailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiosmtpd.controller import Controller

from rcaflows.incidents import Incident, NewIncident, Store, open_or_touch, triage

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class Receiver:
    """What the HTTP receiver saw, and how it answers (paths are routes, see ``_Handler``)."""

    url: str
    requests: list[Request] = field(default_factory=list)
    slack_messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)  # path -> answer 503 this many more times
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]


class _Handler(BaseHTTPRequestHandler):
    receiver: Receiver

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _answer(self, status: int, body: Any) -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain" if isinstance(body, str) else "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        rcv = self.receiver
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.loads(raw) if raw else {}
        with rcv.lock:
            rcv.requests.append(Request(self.path, dict(self.headers), body))
            if rcv.failures.get(self.path, 0) > 0:
                rcv.failures[self.path] -= 1
                return self._answer(503, "busy")
            if self.path == "/hooks/plain":  # a Slack incoming webhook: answers "ok", cannot edit
                return self._answer(200, "ok")
            if self.path == "/hooks/with-ts":  # a Slack-compatible webhook that returns the message ts
                ts = f"{1700000000 + len(rcv.requests)}.000100"
                return self._answer(200, {"ok": True, "ts": ts})
            if self.path == "/api/chat.postMessage":
                if self.headers.get("Authorization") != "Bearer xoxb-test":
                    return self._answer(200, {"ok": False, "error": "invalid_auth"})
                ts = f"{1700000000 + len(rcv.slack_messages)}.000200"
                rcv.slack_messages[ts] = {"channel": body["channel"], "text": body["text"], "edits": 0}
                return self._answer(200, {"ok": True, "ts": ts, "channel": body["channel"]})
            if self.path == "/api/chat.update":
                msg = rcv.slack_messages.get(body.get("ts", ""))
                if msg is None or msg["channel"] != body.get("channel"):
                    return self._answer(200, {"ok": False, "error": "message_not_found"})
                msg["text"], msg["edits"] = body["text"], msg["edits"] + 1
                return self._answer(200, {"ok": True, "ts": body["ts"], "channel": body["channel"]})
            if self.path == "/v2/enqueue":  # PagerDuty Events API v2
                if len(body.get("routing_key", "")) != 32 or body.get("event_action") not in (
                    "trigger",
                    "acknowledge",
                    "resolve",
                ):
                    return self._answer(400, {"status": "invalid event", "errors": ["bad routing_key or action"]})
                if body["event_action"] == "trigger" and not body.get("payload", {}).get("summary"):
                    return self._answer(400, {"status": "invalid event", "errors": ["'payload.summary' is missing"]})
                return self._answer(
                    202, {"status": "success", "message": "Event processed", "dedup_key": body["dedup_key"]}
                )
            if self.path in ("/events", "/flaky"):
                return self._answer(202, {"status": "success", "dedup_key": body.get("dedup_key")})
            if self.path.startswith("/echo-body/"):  # a receiver that quotes the request body in its errors
                return self._answer(400, f"invalid event: {json.dumps(body)}")
            if self.path.startswith("/echo/"):  # a receiver that echoes the request in its errors
                status = 500 if "fail500" in self.path else 400
                return self._answer(status, f"unknown hook {self.path} (auth {self.headers.get('Authorization')})")
            return self._answer(404, "no such hook")

    def do_GET(self) -> None:
        rcv = self.receiver
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        with rcv.lock:
            rcv.requests.append(Request(url.path, dict(self.headers), query))
            if url.path == "/api/chat.getPermalink":  # Slack: the permalink of a posted message
                if self.headers.get("Authorization") != "Bearer xoxb-test":
                    return self._answer(200, {"ok": False, "error": "invalid_auth"})
                msg = rcv.slack_messages.get(query.get("message_ts", ""))
                if msg is None or msg["channel"] != query.get("channel"):
                    return self._answer(200, {"ok": False, "error": "message_not_found"})
                ts = query["message_ts"].replace(".", "")
                link = f"https://acme.slack.example/archives/{query['channel']}/p{ts}"
                return self._answer(200, {"ok": True, "channel": query["channel"], "permalink": link})
            return self._answer(404, "no such hook")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """Run a real HTTP server on localhost that records every request."""
    handler = type("Handler", (_Handler,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    rcv = Receiver(url=f"http://127.0.0.1:{server.server_port}")
    handler.receiver = rcv
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield rcv
    server.shutdown()
    server.server_close()
    thread.join(5)


@dataclass
class Mailbox:
    host: str
    port: int
    mails: list[MailMessage] = field(default_factory=list)
    fail_next: int = 0  # answer 451 (try again later) this many times


class _SmtpHandler:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.box.fail_next > 0:
            self.box.fail_next -= 1
            return "451 4.3.0 try again later"
        self.box.mails.append(message_from_bytes(envelope.content))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    """Run a real SMTP server (aiosmtpd) on localhost that keeps every mail."""
    box = Mailbox("127.0.0.1", free_port())
    controller = Controller(_SmtpHandler(box), hostname=box.host, port=box.port)
    controller.start()
    yield box
    controller.stop()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'incidents.db'}")
    yield s
    s.dispose()


@pytest.fixture
def open_incident(store: Store) -> Callable[..., str]:
    """Return a factory that opens and triages an incident and returns its key."""

    def make(component: str = "feature-store", **overrides: Any) -> str:
        fields: dict[str, Any] = {
            "system": "fraud-scoring",
            "type": "data_quality",
            "subtype": "null_rate",
            "component": component,
            "metric": "txn_amount",
            "title": f"{component}: txn_amount null rate 14%",
            "severity": "high",
            "priority": "P2",
            "team": "data-eng",
            "detected_at": T0,
        }
        fields.update(overrides)
        with store.session() as s:
            inc, _ = open_or_touch(s, NewIncident(**fields))
            triage(s, inc, fields["severity"], fields["priority"], fields["team"], "test")
            return inc.key

    return make


def set_severity(store: Store, key: str, severity: str) -> None:
    """Change an incident's severity directly (as a re-triage would)."""
    from rcaflows.incidents import get_incident

    with store.session() as s:
        inc: Incident = get_incident(s, key)
        inc.severity = severity  # type: ignore[assignment]
