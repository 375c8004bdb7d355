"""A local Prefect API for one demo run, started first so that it migrates while the demo prepares.

Prefect's own ephemeral API starts inside the first flow call, and that process then waits for a
fresh SQLite database to be migrated (10-20 s on two busy cores). :class:`LocalApi` starts the same
server (``prefect.server.api.server:create_app`` in ephemeral mode, UI off) as the demo's very first
step, without importing Prefect's server code into this process, and the demo imports the engine
and simulates its worlds meanwhile. When a Prefect API is already configured (``PREFECT_API_URL``,
a profile, the test harness) nothing is started and that API is used.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from rcaflows.errors import RcaflowsError

#: Exit code of uvicorn when its port was taken meanwhile.
_PORT_IN_USE = 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def configured_api_url() -> str | None:
    """Return the Prefect API URL already configured (environment, profile, test harness), if any."""
    url = os.environ.get("PREFECT_API_URL")
    if url:
        return url
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value() or None


@dataclass
class LocalApi:
    """One Prefect API server subprocess on 127.0.0.1, stopped at interpreter exit (after Prefect's own drains)."""

    port: int = 0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    started: float = 0.0

    @property
    def url(self) -> str:
        """Return the API URL clients use."""
        return f"http://127.0.0.1:{self.port}/api"

    def start(self) -> LocalApi:
        """Launch the server process and return at once; :meth:`wait` blocks until it answers."""
        spec = importlib.util.find_spec("prefect")
        assert spec is not None and spec.origin is not None, "prefect is a dependency"
        self.port = self.port or _free_port()
        env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
        env.pop("PREFECT_API_URL", None)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--app-dir",
                str(Path(spec.origin).parent.parent),
                "--factory",
                "prefect.server.api.server:create_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "error",
                "--lifespan",
                "on",
            ],
            env=env,
        )
        self.started = time.monotonic()
        # Registered before any Prefect client worker: atexit runs it after they have drained.
        atexit.register(self.stop)
        return self

    def wait(self, timeout: float) -> None:
        """Block until ``/health`` answers 200.

        Raises:
            RcaflowsError: When the process exits or does not answer within ``timeout`` seconds.
        """
        import httpx

        assert self.process is not None, "start() first"
        deadline = self.started + timeout
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                code = self.process.poll()
                if code == _PORT_IN_USE:
                    self.port = 0
                    self.start()
                    continue
                if code is not None:
                    raise RcaflowsError(f"Prefect's local API exited with code {code} on start")
                try:
                    if client.get(f"{self.url}/health").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        self.stop()
        raise RcaflowsError(
            f"Prefect's local API did not answer within {timeout:g} s; raise "
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS or start `prefect server start` and set PREFECT_API_URL"
        )

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
