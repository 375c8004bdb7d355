"""PostgreSQL for the tests: ``$RCAFLOWS_TEST_DB_URL`` and one fresh schema per test.

Start a throwaway server with ``export RCAFLOWS_TEST_DB_URL="$(.ci/start-postgres start)"``;
unset, every store test runs on a SQLite file instead. Each test gets its own schema (selected
by ``search_path`` in the URL), so tests never see each other's rows or tables and a failed
test leaves nothing behind for the next one.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    from rcaflows.incidents import Store

TEST_DB_URL_ENV = "RCAFLOWS_TEST_DB_URL"


def pg_test_url() -> str | None:
    """Return the PostgreSQL URL the tests should use, or None to use SQLite."""
    url = os.environ.get(TEST_DB_URL_ENV, "").strip()
    return url or None


def admin_engine(url: str) -> sa.Engine:
    """Return an autocommit engine on ``url`` for DDL outside the store (schemas, kills)."""
    return sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)


@contextmanager
def fresh_schema(url: str) -> Iterator[str]:
    """Create an empty schema, yield ``url`` bound to it (``search_path``), and drop it after."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    engine = admin_engine(url)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{name}"')
        bound = make_url(url).update_query_dict({"options": f"-csearch_path={name}"})
        yield bound.render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            # A pooled connection left idle in a transaction would block the drop; don't hang on it.
            conn.exec_driver_sql("SET lock_timeout = '10s'")
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        engine.dispose()


@contextmanager
def empty_store(tmp_path: Path) -> Iterator[Store]:
    """Yield an empty incident store: a SQLite file in ``tmp_path``, or a fresh schema of ``$RCAFLOWS_TEST_DB_URL``."""
    from rcaflows.incidents import Store

    pg_url = pg_test_url()
    if pg_url is None:
        s = Store(f"sqlite:///{tmp_path / 'incidents.db'}")
        s.create_all()
        yield s
        s.dispose()
        return
    with fresh_schema(pg_url) as url:
        s = Store(url)
        s.create_all()
        yield s
        s.dispose()
        Store.clear_cache()
