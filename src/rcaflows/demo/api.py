"""A local Prefect API for one demo run, started first so that it migrates while the demo prepares.

Prefect's own ephemeral API starts inside the first flow call, and that process then waits for a
fresh SQLite database to be migrated (10-20 s on two busy cores). :class:`LocalApi` starts the same
server (``prefect.server.api.server:create_app`` in ephemeral mode, UI off) as the demo's very first
step, without importing Prefect's server code into this process, and the demo imports the engine
and simulates its worlds meanwhile. When a Prefect API is already configured (``PREFECT_API_URL``,
a profile, the test harness) nothing is started and that API is used.

On a fresh machine the server's SQLite database does not exist yet, and migrating it through
Prefect's ~120 Alembic steps is most of the server's start (~13 of ~21 s here). The demo ships that
empty database already migrated (:data:`TEMPLATE`, 16 kB gzipped, made by
``python -m rcaflows.demo.api --write-template``) and puts it in place of the missing file, but only
when its Alembic revision is the installed Prefect's head; otherwise the server migrates as usual.
"""

from __future__ import annotations

import atexit
import contextlib
import gzip
import importlib.util
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from rcaflows.errors import RcaflowsError

#: Exit code of uvicorn when its port was taken meanwhile.
_PORT_IN_USE = 3

#: An empty Prefect database, migrated to the head of the Prefect release it was made with.
TEMPLATE = Path(__file__).with_name("prefect-empty.db.gz")


def migrations_head() -> str:
    """Return the installed Prefect's head Alembic revision for SQLite (the one no other revision follows)."""
    spec = importlib.util.find_spec("prefect")
    assert spec is not None and spec.origin is not None, "prefect is a dependency"
    versions = Path(spec.origin).parent / "server" / "database" / "_migrations" / "versions" / "sqlite"
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in versions.glob("*.py"):
        text = script.read_text()
        rev = re.search(r"^revision\s*=\s*['\"]([0-9a-f]+)['\"]", text, re.M)
        down = re.search(r"^down_revision\s*=\s*(.+)$", text, re.M)
        if rev:
            revisions.add(rev.group(1))
        if down:
            parents.update(re.findall(r"['\"]([0-9a-f]+)['\"]", down.group(1)))
    heads = revisions - parents
    if len(heads) != 1:
        raise RcaflowsError(f"cannot tell Prefect's head migration in {versions}: heads {sorted(heads) or 'none'}")
    return heads.pop()


def _revision(db: Path) -> str | None:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        try:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.DatabaseError:
            return None
    return str(row[0]) if row else None


def server_database() -> Path | None:
    """Return the SQLite file a Prefect server started here will use (None: another database, or unsure).

    Read from the environment alone: importing Prefect's settings takes ~2 s, which would hold up
    the server's start. When a profile or a ``prefect.toml`` here may choose the database, None.
    """
    for name in ("PREFECT_SERVER_DATABASE_CONNECTION_URL", "PREFECT_API_DATABASE_CONNECTION_URL"):
        url = os.environ.get(name)
        if url:
            match = re.match(r"sqlite(\+\w+)?:///(.+)$", url)
            if match is None or match.group(2).startswith(":memory:"):
                return None
            return Path(match.group(2)).expanduser()
    home = Path(os.environ.get("PREFECT_HOME") or "~/.prefect").expanduser()
    profiles = Path(os.environ.get("PREFECT_PROFILES_PATH") or home / "profiles.toml").expanduser()
    for chooser in (profiles, Path("prefect.toml")):
        if chooser.is_file() and "DATABASE" in chooser.read_text().upper():
            return None
    return home / "prefect.db"


def seed_database(target: Path | None, template: Path = TEMPLATE) -> bool:
    """Put the migrated empty database at ``target`` if no database is there; return True when it did.

    Nothing is done when ``target`` exists (a database to keep), is None, or when the template's
    revision is not the installed Prefect's head (the server then migrates as usual).
    """
    if target is None or target.exists() or not template.exists():
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".seeding")
    with gzip.open(template, "rb") as src, partial.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    if _revision(partial) != migrations_head():
        partial.unlink()
        return False
    partial.replace(target)  # atomic: the server sees no database or the whole one
    return True


def write_template(out: Path = TEMPLATE) -> str:
    """Migrate a fresh Prefect database in a scratch home and store it gzipped at ``out``; return its revision."""
    import tempfile

    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "PREFECT_HOME": home}
        for name in ("PREFECT_API_DATABASE_CONNECTION_URL", "PREFECT_SERVER_DATABASE_CONNECTION_URL"):
            env.pop(name, None)
        subprocess.run(
            [sys.executable, "-m", "prefect", "server", "database", "upgrade", "-y"],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        db = Path(home) / "prefect.db"
        with contextlib.closing(sqlite3.connect(db)) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.execute("PRAGMA journal_mode=DELETE")
            conn.execute("VACUUM")
        revision = _revision(db)
        if revision != migrations_head():
            raise RcaflowsError(f"migrated database is at {revision}, not Prefect's head {migrations_head()}")
        with db.open("rb") as src, gzip.GzipFile(out, "wb", compresslevel=9, mtime=0) as dst:
            shutil.copyfileobj(src, dst)
    return revision


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
    #: True when the migrated empty database was put in place of a missing one
    seeded: bool = False

    @property
    def url(self) -> str:
        """Return the API URL clients use."""
        return f"http://127.0.0.1:{self.port}/api"

    def start(self) -> LocalApi:
        """Launch the server process and return at once; :meth:`wait` blocks until it answers."""
        spec = importlib.util.find_spec("prefect")
        assert spec is not None and spec.origin is not None, "prefect is a dependency"
        self.port = self.port or _free_port()
        self.seeded = self.seeded or seed_database(server_database())
        env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
        env.pop("PREFECT_API_URL", None)
        if self.seeded:  # at Prefect's head already: skip loading the ~120 migration scripts
            env["PREFECT_API_DATABASE_MIGRATE_ON_START"] = "false"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--app-dir",
                str(Path(spec.origin).parent.parent),
                "--factory",
                "rcaflows.demo.prefect_server:create_app",
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
        assert self.process is not None, "start() first"
        deadline = self.started + timeout
        while time.monotonic() < deadline:
            if self.ready():
                return
            time.sleep(0.1)
        self.stop()
        raise RcaflowsError(
            f"Prefect's local API did not answer within {timeout:g} s; raise "
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS or start `prefect server start` and set PREFECT_API_URL"
        )

    def ready(self) -> bool:
        """Return True once ``/health`` answers 200: one quick try (a port taken meanwhile restarts the server).

        Raises:
            RcaflowsError: When the process has exited.
        """
        import httpx

        assert self.process is not None, "start() first"
        code = self.process.poll()
        if code == _PORT_IN_USE:
            self.port = 0
            self.start()
            return False
        if code is not None:
            raise RcaflowsError(f"Prefect's local API exited with code {code} on start")
        try:
            return httpx.get(f"{self.url}/health", timeout=2.0).status_code == 200
        except httpx.TransportError:
            return False

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


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Maintain the demo's migrated empty Prefect database.")
    parser.add_argument("--write-template", action="store_true", help=f"migrate a fresh database into {TEMPLATE}")
    if parser.parse_args().write_template:
        print(f"{TEMPLATE}: Alembic revision {write_template()}")
    else:
        parser.print_help()
