"""The store's Alembic migrations: ``upgrade head`` yields exactly the models' schema.

Runs on SQLite, and on PostgreSQL when ``$RCAFLOWS_TEST_DB_URL`` is set (a fresh schema).
A model change without a migration fails ``test_upgrade_head_on_an_empty_database_matches_the_models``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa
from alembic import command
from typer.testing import CliRunner

from rcaflows.cli import app
from rcaflows.errors import StoreError
from rcaflows.incidents import Base, NewIncident, Store, open_or_touch
from rcaflows.incidents.migrations import alembic_config, current_revision, head_revision, schema_diff, upgrade


def _engine(url: str) -> sa.Engine:
    """Return an engine on ``url`` that has not touched the schema (a SQLite file's directory made)."""
    return Store(url).engine


def _revision(url: str) -> str | None:
    engine = _engine(url)
    with engine.connect() as conn:
        rev = current_revision(conn)
    engine.dispose()
    return rev


def _diff(url: str) -> list[object]:
    engine = _engine(url)
    with engine.connect() as conn:
        diffs = schema_diff(conn)
    engine.dispose()
    return diffs


def test_upgrade_head_on_an_empty_database_matches_the_models(store_url: str) -> None:
    before, after = upgrade(store_url)
    assert (before, after) == (None, head_revision())
    assert _diff(store_url) == [], "models changed without a migration: write one (see migrations/__init__.py)"


def test_migrated_audit_log_is_append_only_in_the_database(
    store_url: str, make_new: Callable[..., NewIncident]
) -> None:
    upgrade(store_url)
    store = Store(store_url)
    with store.session() as s:
        open_or_touch(s, make_new())
    assert store.schema_action == "current"
    for sql in ("UPDATE incident_events SET actor = 'mallory'", "DELETE FROM incident_events"):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), store.engine.begin() as conn:
            conn.exec_driver_sql(sql)
    store.dispose()


def test_downgrade_to_base_and_upgrade_again(store_url: str) -> None:
    upgrade(store_url)
    engine = _engine(store_url)
    with engine.begin() as conn:
        command.downgrade(alembic_config(connection=conn), "base")
    with engine.connect() as conn:
        assert not sa.inspect(conn).has_table("incidents")
    engine.dispose()
    assert upgrade(store_url) == (None, head_revision())
    assert _diff(store_url) == []


def test_a_store_creates_and_stamps_an_empty_database_then_reuses_it(store_url: str) -> None:
    first = Store(store_url)
    first.create_all()
    assert first.schema_action == "created"
    first.dispose()
    assert _revision(store_url) == head_revision()
    assert _diff(store_url) == []
    second = Store(store_url)
    second.create_all()
    assert second.schema_action == "current"
    second.dispose()


def test_a_store_made_before_migrations_is_stamped_as_the_baseline(store_url: str) -> None:
    engine = _engine(store_url)
    Base.metadata.create_all(engine)  # what stores did before migrations existed: no version row
    engine.dispose()
    assert _revision(store_url) is None
    store = Store(store_url)
    store.create_all()
    assert store.schema_action == "created"
    store.dispose()
    assert _revision(store_url) == head_revision()


def test_a_database_at_an_unknown_revision_is_refused_clearly(store_url: str) -> None:
    upgrade(store_url)
    engine = _engine(store_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'ffff_from_the_future'")
    engine.dispose()
    store = Store(store_url)
    with pytest.raises(StoreError, match=r"ffff_from_the_future.*newer rcaflows"):
        store.create_all()
    store.dispose()


def test_cli_upgrade_current_and_check(store_url: str) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["db", "current", "--store", store_url])
    assert res.exit_code == 0, res.output
    assert "revision (none)" in res.output and "not stamped" in res.output
    res = runner.invoke(app, ["db", "upgrade", "--store", store_url])
    assert res.exit_code == 0, res.output
    assert f"(empty) -> {head_revision()}" in res.output
    res = runner.invoke(app, ["db", "current", "--store", store_url])
    assert f"revision {head_revision()}" in res.output and "up to date" in res.output
    res = runner.invoke(app, ["db", "check", "--store", store_url])
    assert res.exit_code == 0 and "matches the models" in res.output
    engine = _engine(store_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP INDEX ix_incidents_state")
    engine.dispose()
    res = runner.invoke(app, ["db", "check", "--store", store_url])
    assert res.exit_code == 1
    assert "ix_incidents_state" in res.output
