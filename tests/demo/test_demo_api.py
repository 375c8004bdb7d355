"""The demo's local Prefect API starts on the bundled migrated database, and only where that is safe."""

from __future__ import annotations

import gzip
import sqlite3
from pathlib import Path

import pytest

from rcaflows.demo.api import TEMPLATE, _revision, migrations_head, seed_database, server_database


def _template_at(tmp_path: Path, revision: str) -> Path:
    db = tmp_path / "src.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        conn.execute("INSERT INTO alembic_version VALUES (?)", (revision,))
    out = tmp_path / "t.db.gz"
    out.write_bytes(gzip.compress(db.read_bytes()))
    return out


def test_the_bundled_template_is_a_migrated_prefect_database(tmp_path: Path) -> None:
    target = tmp_path / "home" / "prefect.db"
    assert TEMPLATE.exists()
    seeded = seed_database(target)
    if not seeded:  # a Prefect release newer than the template: the server migrates as usual
        pytest.skip(f"template is not at Prefect's head {migrations_head()}")
    assert _revision(target) == migrations_head()
    with sqlite3.connect(target) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"flow", "flow_run", "task_run", "log", "artifact"} <= tables
    assert not list(target.parent.glob("*.seeding"))


def test_a_template_behind_prefects_head_is_not_used(tmp_path: Path) -> None:
    target = tmp_path / "home" / "prefect.db"
    assert not seed_database(target, _template_at(tmp_path, "0000deadbeef"))
    assert not target.exists() and not list(target.parent.glob("*"))  # no partial file left


def test_an_existing_database_is_never_replaced(tmp_path: Path) -> None:
    target = tmp_path / "prefect.db"
    target.write_bytes(b"runs worth keeping")
    assert not seed_database(target, _template_at(tmp_path, migrations_head()))
    assert target.read_bytes() == b"runs worth keeping"


def test_a_template_at_head_is_put_in_place(tmp_path: Path) -> None:
    target = tmp_path / "home" / "prefect.db"
    assert seed_database(target, _template_at(tmp_path, migrations_head()))
    assert _revision(target) == migrations_head()


def test_the_servers_database_is_read_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "PREFECT_SERVER_DATABASE_CONNECTION_URL",
        "PREFECT_API_DATABASE_CONNECTION_URL",
        "PREFECT_PROFILES_PATH",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "ph"))
    assert server_database() == tmp_path / "ph" / "prefect.db"
    (tmp_path / "ph").mkdir()
    (tmp_path / "ph" / "profiles.toml").write_text(
        '[profiles.x]\nPREFECT_API_DATABASE_CONNECTION_URL = "postgresql://x"\n'
    )
    assert server_database() is None  # a profile may choose the database: leave it alone
    monkeypatch.setenv("PREFECT_API_DATABASE_CONNECTION_URL", f"sqlite+aiosqlite:///{tmp_path}/other.db")
    assert server_database() == tmp_path / "other.db"
    monkeypatch.setenv("PREFECT_API_DATABASE_CONNECTION_URL", "postgresql+asyncpg://u@h/prefect")
    assert server_database() is None


def test_migrations_head_is_alembics_head_of_prefects_sqlite_migrations() -> None:
    import prefect
    from alembic.script import ScriptDirectory

    base = Path(prefect.__file__).parent / "server" / "database" / "_migrations"
    scripts = ScriptDirectory(str(base), version_locations=[str(base / "versions" / "sqlite")])
    assert [migrations_head()] == scripts.get_heads()


def _answer(status: int, headers: list[tuple[bytes, bytes]]) -> list[dict]:
    import asyncio

    from rcaflows.demo.prefect_server import RetrySoon

    async def app(scope: dict, receive: object, send: object) -> None:
        await send({"type": "http.response.start", "status": status, "headers": headers})  # type: ignore[operator]
        await send({"type": "http.response.body", "body": b""})  # type: ignore[operator]

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    async def receive() -> dict:
        return {"type": "http.request"}

    asyncio.run(RetrySoon(app, 0.5)({"type": "http"}, receive, send))
    return sent


def test_a_503_tells_the_client_to_retry_soon_and_other_answers_pass_unchanged() -> None:
    assert (b"retry-after", b"0.5") in _answer(503, [(b"content-type", b"application/json")])[0]["headers"]
    assert _answer(200, [(b"content-type", b"application/json")])[0]["headers"] == [
        (b"content-type", b"application/json")
    ]
    assert _answer(503, [(b"Retry-After", b"7")])[0]["headers"] == [(b"Retry-After", b"7")]  # the server's own wins
