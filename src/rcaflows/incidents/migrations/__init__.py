"""Schema migrations of the incident store (Alembic), and how a store reaches the current schema.

A store brings its database to the current schema on first use (:func:`ensure_schema`):

* **empty database** (no ``alembic_version``): ``create_all`` from the models, then *stamp* the
  head revision. One round of DDL is faster than replaying every migration (tests open hundreds
  of stores), and ``tests/incidents/test_migrations.py`` proves that ``upgrade head`` yields
  exactly the models' schema, so both paths end in the same place. A store made before
  migrations existed (tables, no version row) takes this path too: missing tables are added
  and it is stamped as the baseline.
* **older revision**: ``upgrade head`` (the migrations run in order).
* **head**: nothing.
* **a revision this code does not know**: a :class:`StoreError` (the database was migrated by a
  newer rcaflows; upgrade rcaflows rather than run old code on a newer schema).

All of it runs in one transaction that first takes a lock (``BEGIN IMMEDIATE`` on SQLite, a
transaction-scoped advisory lock on PostgreSQL), so workers starting together migrate once.
Operators who prefer explicit migrations run ``rcaflows db upgrade`` before deploying; developers
write a migration with ``python -m rcaflows.incidents.migrations revision --autogenerate -m "..."``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from rcaflows.errors import StoreError

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

__all__ = ["alembic_config", "current_revision", "ensure_schema", "head_revision", "schema_diff", "upgrade"]

MIGRATIONS_DIR = Path(__file__).resolve().parent
# pg_advisory_xact_lock key of schema migration ("rcaflows" in ASCII, fits a signed bigint).
_MIGRATION_LOCK_KEY = 0x7263_6166_6C6F_7773 & 0x7FFF_FFFF_FFFF_FFFF


def alembic_config(url: str | None = None, connection: sa.Connection | None = None) -> Config:
    """Return the Alembic config of the store's migrations, for ``url`` or an open ``connection``."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", str(MIGRATIONS_DIR / "versions"))
    if url is not None:
        # ConfigParser interpolation: a literal '%' in a URL (encoded password) must be doubled.
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@lru_cache(maxsize=1)
def _script() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """Return the newest migration revision this code knows."""
    head = _script().get_current_head()
    if head is None:  # pragma: no cover - the package ships its migrations
        raise StoreError(f"no migrations found under {MIGRATIONS_DIR / 'versions'}")
    return head


def current_revision(conn: sa.Connection) -> str | None:
    """Return the revision the database on ``conn`` is at, or None if it was never stamped."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


def _lock(conn: sa.Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK_KEY})


def ensure_schema(engine: sa.Engine) -> str:
    """Bring the database of ``engine`` to the head schema (see the module docstring); return how.

    Returns:
        ``"created"`` (empty database, created and stamped), ``"upgraded"`` or ``"current"``.

    Raises:
        StoreError: If the database is at a revision this code does not know.
    """
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    from rcaflows.incidents.models import Base

    script = _script()
    with engine.begin() as conn:
        _lock(conn)
        ctx = MigrationContext.configure(conn)
        rev = ctx.get_current_revision()
        if rev is None:
            Base.metadata.create_all(conn)
            ctx.stamp(script, "head")
            return "created"
        if rev == head_revision():
            return "current"
        if not _known(script, rev):
            raise StoreError(
                f"the incident store's schema is at revision {rev!r}, which this rcaflows does not know "
                f"(its newest is {head_revision()!r}); the database was migrated by a newer rcaflows: "
                "upgrade rcaflows instead of running older code on it"
            )
        command.upgrade(alembic_config(connection=conn), "head")
        return "upgraded"


def _known(script: ScriptDirectory, rev: str) -> bool:
    try:
        return script.get_revision(rev) is not None
    except Exception:  # alembic raises ResolutionError / CommandError for unknown ids
        return False


def upgrade(url: str, revision: str = "head") -> tuple[str | None, str | None]:
    """Run the migrations on the database at ``url`` up to ``revision``; return (before, after)."""
    from alembic import command
    from alembic.util import CommandError

    from rcaflows.incidents.db import Store

    store = Store(url)  # its engine: SQLite directories made, BEGIN IMMEDIATE, URL checked
    try:
        with store.engine.begin() as conn:
            _lock(conn)
            before = current_revision(conn)
            command.upgrade(alembic_config(connection=conn), revision)
            after = current_revision(conn)
    except (sa.exc.SQLAlchemyError, CommandError) as e:
        raise StoreError(f"cannot migrate incident store {store.masked_url}: {e}") from e
    finally:
        store.dispose()
    return before, after


def schema_diff(conn: sa.Connection) -> list[Any]:
    """Return Alembic's differences between the database on ``conn`` and the models (empty if equal)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from rcaflows.incidents.models import Base

    ctx = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
    return list(compare_metadata(ctx, Base.metadata))
