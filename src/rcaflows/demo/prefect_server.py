"""Prefect's API server as the demo runs it: a write that lost a SQLite race is retried soon, not after 2 s.

With SQLite, two clients writing at once can make one of Prefect's read-then-write transactions
fail with "database is locked" (a snapshot conflict, which no busy timeout waits out). The server
answers 503 and the client retries, by default after 2 s, then 4 s, then 8 s: in the demo, whose
two worker processes write side by side, those waits were 2-7 s of many runs. This app is
Prefect's own, plus a ``Retry-After`` header on such answers, which Prefect's client honours
(jittered); the demo also allows its clients more retries (:data:`rcaflows.demo.run.PREFECT_DEFAULTS`).

Imported by the server subprocess only (``uvicorn --factory rcaflows.demo.prefect_server:create_app``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prefect.server.api.server import create_app as _prefect_app

#: Seconds a client waits before it repeats a request the server answered 503 (Prefect's default: 2, 4, 8, ...).
RETRY_AFTER_SECONDS = 0.5

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class RetrySoon:
    """ASGI middleware: add ``Retry-After`` to 503 answers that carry none."""

    def __init__(self, app: App, seconds: float = RETRY_AFTER_SECONDS) -> None:
        self.app = app
        self.header = (b"retry-after", f"{seconds:g}".encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan and websockets pass through
            await self.app(scope, receive, send)
            return

        async def send_with_retry_after(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 503:
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"retry-after" for name, _ in headers):
                    message = {**message, "headers": [*headers, self.header]}
            await send(message)

        await self.app(scope, receive, send_with_retry_after)


def create_app() -> RetrySoon:
    """Return Prefect's API app (configured by the environment, as uvicorn's factory) behind :class:`RetrySoon`."""
    return RetrySoon(_prefect_app())
