"""Fixtures of the source tests: a real local Prometheus loaded with known series, and tiny HTTP servers.

The Prometheus fixtures need Debian's ``prometheus`` package (``prometheus`` and ``promtool``
binaries); without them they FAIL with the install command, as CI installs it.
"""

from __future__ import annotations

import http.server
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from rcaflows.demo import DEMO_END, simulate
from rcaflows.demo.export import LocalPrometheus, find_binary, write_openmetrics
from rcaflows.errors import ConfigError

#: the known series: six hours of the seeded demo world, every metric of every component
SLICE_START = DEMO_END - timedelta(hours=6)
SLICE_END = DEMO_END
#: bcrypt hash (cost 4) of BASIC_PASSWORD, for Prometheus' --web.config.file
BASIC_USER, BASIC_PASSWORD = "rca", "rca-test-pass"
BASIC_HASH = "$2b$04$BpeG5WGQufp1MLdjMc5HkuGSEThCsfsYSTfktOyCpQrm9BMIdLXWm"


def known_metrics() -> pd.DataFrame:
    """Return the series loaded into the test Prometheus, sorted as the source returns them."""
    m = simulate("no_fault", seed=7).data.slice(SLICE_START, SLICE_END).metrics
    return m.sort_values(["timestamp", "component", "metric"], kind="stable", ignore_index=True)


def _require_binaries() -> None:
    try:
        find_binary("prometheus")
        find_binary("promtool")
    except ConfigError as exc:
        # CI sets RCAFLOWS_REQUIRE_SERVICES=1, so a missing server there is a failure, never a skip.
        if os.environ.get("RCAFLOWS_REQUIRE_SERVICES"):
            pytest.fail(str(exc), pytrace=False)
        pytest.skip(f"{exc} (CI installs it; RCAFLOWS_REQUIRE_SERVICES=1 turns this skip into a failure)")


@pytest.fixture(scope="session")
def openmetrics_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Write the known series as OpenMetrics."""
    return write_openmetrics(known_metrics(), tmp_path_factory.mktemp("om") / "known.om", {"job": "demo"})


@pytest.fixture(scope="session")
def prometheus_binaries() -> None:
    """Require Debian's prometheus and promtool (a failure in CI, a skip elsewhere)."""
    _require_binaries()


@pytest.fixture(scope="session")
def prometheus_url(openmetrics_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start a real Prometheus serving the known series; stop it after the session."""
    _require_binaries()
    with LocalPrometheus([openmetrics_file], directory=tmp_path_factory.mktemp("prom")) as prom:
        yield prom.url


@pytest.fixture(scope="session")
def prometheus_basic_auth_url(openmetrics_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start a second real Prometheus that requires basic auth."""
    _require_binaries()
    web = {"basic_auth_users": {BASIC_USER: BASIC_HASH}}
    with LocalPrometheus([openmetrics_file], directory=tmp_path_factory.mktemp("prom-auth"), web_config=web) as prom:
        yield prom.url


@dataclass
class Recorder:
    """A local HTTP server's log: the requests it got."""

    url: str = ""
    paths: list[str] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)


@pytest.fixture
def http_server() -> Iterator[Callable[[int, bytes, float], Recorder]]:
    """Start local HTTP servers answering every GET with a fixed status and body after a delay."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(status: int, body: bytes, delay: float = 0.0) -> Recorder:
        rec = Recorder()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                rec.paths.append(self.path)
                rec.headers.append(dict(self.headers))
                time.sleep(delay)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: object) -> None:
                pass

        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        srv.daemon_threads = True
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        rec.url = f"http://127.0.0.1:{srv.server_address[1]}"
        return rec

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()
