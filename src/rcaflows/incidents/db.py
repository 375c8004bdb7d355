"""The incident store's database: engine, schema creation and one transaction per unit of work.

SQLite (a local file, zero services) is the default; any SQLAlchemy URL with a sync driver works,
e.g. ``postgresql+psycopg://user:pw@host/db``.

On SQLite every write session begins with ``BEGIN IMMEDIATE``: it takes the write lock before it
reads, so a read-check-write unit of work (dedup, a guarded transition) can never interleave with
another writer; a concurrent writer waits (``busy_timeout``) instead of failing. Read-only sessions
(``session(readonly=True)``) begin deferred and never block on writers (WAL).
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from rcaflows.errors import RcaflowsError, StoreError
from rcaflows.incidents.lifecycle_events import publish_committed

T = TypeVar("T")
SQLITE_BUSY_TIMEOUT_MS = 30_000
_READONLY = "rcaflows_readonly"


def mask_url(url: str | URL) -> str:
    """Return ``url`` with its password replaced by ``***``, safe for messages and logs."""
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def _finite(value: Any) -> Any:
    """Return ``value`` with NaN and infinities replaced by None, as JSON has no such numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


class StoreDisconnectedError(StoreError):
    """The database connection was lost before commit: nothing was written; safe to repeat."""


class StoreCommitUnknownError(StoreError):
    """The database connection was lost during COMMIT: the unit may or may not have been applied."""


class _UnstorableJSONError(TypeError):
    """A value a JSON column cannot hold; raised inside the driver (psycopg dumps JSON itself)."""


def _json_default(value: Any) -> Any:
    """Encode the non-JSON values evidence commonly holds; refuse anything else loudly."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return _finite(sorted(value, key=str))
    if hasattr(value, "model_dump"):  # pydantic models
        return _finite(value.model_dump(mode="json"))
    if hasattr(value, "tolist") and callable(value.tolist):  # numpy scalars and arrays
        return _finite(value.tolist())
    raise _UnstorableJSONError(f"cannot store a {type(value).__name__} in a JSON column: {value!r}")


def _json_dumps(value: Any) -> str:
    """Serialize a JSON column: datetimes as ISO text, numpy as Python, NaN as null."""
    return json.dumps(_finite(value), default=_json_default, allow_nan=False)


def _sqlite_file(url: URL) -> Path | None:
    """Return the database file of a SQLite URL, or None for in-memory / non-SQLite URLs."""
    if url.get_backend_name() != "sqlite":
        return None
    db = url.database
    if not db or db == ":memory:" or db.startswith("file:") or url.query.get("mode") == "memory":
        return None
    return Path(db).expanduser()


def _install_sqlite_listeners(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control from pysqlite, so BEGIN is ours (see _on_begin).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        try:
            cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
        finally:
            cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        readonly = conn.get_execution_options().get(_READONLY, False)
        conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


class Store:
    """The incident store at one database URL.

    Args:
        url: SQLAlchemy URL; a SQLite file's parent directories are created.
        echo: Log every SQL statement (debugging).

    Raises:
        StoreError: If the URL is malformed or its driver is not installed.
    """

    _cache: ClassVar[dict[str, Store]] = {}
    _cache_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.masked_url = mask_url(url)
        try:
            parsed = make_url(url)
        except exc.ArgumentError as e:
            raise StoreError(
                f"incident store URL {self.masked_url!r} is malformed ({e}); "
                "expected e.g. 'sqlite:///rcaflows.db' or 'postgresql+psycopg://user@host/db'"
            ) from None
        self.url = parsed
        db_file = _sqlite_file(parsed)
        if db_file is not None:
            try:
                db_file.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StoreError(f"cannot create the directory of incident store {self.masked_url}: {e}") from e
        try:
            self.engine: Engine = sa.create_engine(parsed, echo=echo, pool_pre_ping=True, json_serializer=_json_dumps)
        except (exc.ArgumentError, exc.NoSuchModuleError, ImportError) as e:
            raise StoreError(
                f"cannot open incident store {self.masked_url}: {e}; "
                "check the URL's dialect and that its driver is installed"
            ) from e
        if parsed.get_backend_name() == "sqlite":
            _install_sqlite_listeners(self.engine)
        self._sessions = sessionmaker(bind=self.engine, expire_on_commit=False)
        self._readonly_sessions = sessionmaker(
            bind=self.engine.execution_options(**{_READONLY: True}), expire_on_commit=False
        )
        self._created = False
        self._create_lock = threading.Lock()
        self.schema_action: str | None = None  # what create_all did: "created", "upgraded" or "current"
        self.db_file = db_file.absolute() if db_file is not None else None
        self._file_id: tuple[int, int] | None = None  # (device, inode) of the SQLite file once it exists

    @classmethod
    def from_url(cls, url: str) -> Store:
        """Return the store for ``url``, creating it on first use and reusing it afterwards."""
        with cls._cache_lock:
            store = cls._cache.get(url)
            if store is None:
                store = cls._cache[url] = cls(url)
            return store

    @classmethod
    def clear_cache(cls, *, close: bool = True) -> None:
        """Dispose and forget every store made by :meth:`from_url` (tests, forks).

        Args:
            close: Close the pooled connections; in a forked child pass False, so the parent's
                connections are left to the parent (SQLAlchemy's advice for pools after fork).
        """
        with cls._cache_lock:
            for store in cls._cache.values():
                store.dispose(close=close)
            cls._cache.clear()

    def create_all(self) -> None:
        """Bring the database to the current schema: create + stamp it if empty, else migrate.

        See :mod:`rcaflows.incidents.migrations` for why an empty database is created from the
        models and stamped rather than migrated step by step.
        """
        from rcaflows.incidents.migrations import ensure_schema

        with self._create_lock:
            if self._created:
                return
            try:
                self.schema_action = ensure_schema(self.engine)
            except exc.SQLAlchemyError as e:
                raise StoreError(f"cannot create the schema of incident store {self.masked_url}: {e}") from e
            self._created = True

    @contextmanager
    def session(self, *, readonly: bool = False) -> Iterator[Session]:
        """Yield a session that is one transaction: committed on success, rolled back on any error.

        Args:
            readonly: Begin without taking the write lock (SQLite); flushing any change is refused.

        Raises:
            StoreError: On a database error (the URL, password masked, is in the message).
        """
        self.create_all()
        self.check_file()
        factory = self._readonly_sessions if readonly else self._sessions
        with factory() as session:
            if readonly:
                event.listen(session, "before_flush", _refuse_flush)
            committing = False
            try:
                yield session
                session.flush()  # a lost connection up to here rolled everything back: retryable
                self.check_file()  # a deleted file takes the commit with it: fail instead
                committing = True
                session.commit()
            except BaseException as e:
                session.rollback()
                if isinstance(e, exc.DBAPIError) and (e.connection_invalidated or _connect_failed(e)):
                    if committing:
                        raise StoreCommitUnknownError(
                            f"incident store {self.masked_url}: the connection was lost during COMMIT, so the "
                            f"unit of work may or may not have been applied; check before repeating it ({e.orig})"
                        ) from e
                    raise StoreDisconnectedError(
                        f"incident store {self.masked_url}: the connection was lost before commit; nothing of "
                        f"this unit of work was written and it is safe to repeat ({e.orig})"
                    ) from e
                if isinstance(e, exc.SQLAlchemyError | _UnstorableJSONError) and not isinstance(e, RcaflowsError):
                    raise StoreError(f"incident store {self.masked_url}: {e}") from e
                raise
        # Committed and closed: only now do the lifecycle events reach their subscribers (never on a rollback).
        publish_committed(self, session)

    def check_file(self) -> None:
        """Refuse to go on when the SQLite file was deleted or replaced since the store first opened it.

        SQLite keeps writing to a deleted file through the open connection, so without this check a
        run whose store vanished would report incidents that nothing holds.

        Raises:
            StoreError: If the file is gone or is another file now.
        """
        if self.db_file is None:
            return
        try:
            st = os.stat(self.db_file)
        except FileNotFoundError:
            if self._file_id is None:
                return
            raise StoreError(
                f"incident store {self.masked_url}: the database file {self.db_file} was deleted while in use; "
                "nothing of this unit of work was kept. Restore it from a backup ('rcaflows db backup') "
                "or start again with an empty store"
            ) from None
        file_id = (st.st_dev, st.st_ino)
        if self._file_id is None:
            self._file_id = file_id
        elif file_id != self._file_id:
            raise StoreError(
                f"incident store {self.masked_url}: the database file {self.db_file} was replaced by another "
                "file while in use; nothing of this unit of work was kept. Run again to use the new file"
            )

    def backup(self, target: str | os.PathLike[str]) -> Path:
        """Copy a SQLite store, with what is still in its write-ahead log, to ``target`` (online, consistent).

        A plain ``cp`` of the database file misses the transactions still in the ``-wal`` file.

        Raises:
            StoreError: If the store is not a SQLite file, does not exist, or ``target`` exists.
        """
        import sqlite3

        dest = Path(target).expanduser()
        if self.db_file is None:
            raise StoreError(
                f"rcaflows db backup copies SQLite stores; back up {self.masked_url} with its database's own "
                "tool, e.g. 'pg_dump --format=custom --file=FILE <url>' for PostgreSQL"
            )
        if not self.db_file.exists():
            raise StoreError(f"no incident store at {self.db_file}; nothing to back up")
        if dest.exists():
            raise StoreError(f"{dest} exists; give a new file name (a backup never overwrites)")
        if not dest.parent.is_dir():
            raise StoreError(f"{dest.parent} is not a directory")
        tmp = dest.with_name(f".{dest.name}.partial")
        try:
            src = sqlite3.connect(f"file:{self.db_file}?mode=ro", uri=True, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
            try:
                out = sqlite3.connect(tmp)
                try:
                    src.backup(out)
                finally:
                    out.close()
            finally:
                src.close()
            tmp.replace(dest)
        except (sqlite3.Error, OSError) as e:
            tmp.unlink(missing_ok=True)
            raise StoreError(f"cannot back up {self.db_file} to {dest}: {e}") from e
        return dest

    def run(self, unit: Callable[[Session], T], *, attempts: int = 5, readonly: bool = False) -> T:
        """Run ``unit(session)`` as one transaction, repeating it if the connection is lost before commit.

        A unit that lost its connection before COMMIT left nothing behind (the server rolled it
        back), so repeating it cannot duplicate anything; a connection lost *during* COMMIT is
        ambiguous and is raised, never retried. ``unit`` must not have side effects outside the
        session (no notifications), as it may run up to ``attempts`` times.

        Raises:
            StoreDisconnectedError: If every attempt lost its connection.
            StoreCommitUnknownError: If the connection died during COMMIT.
        """
        for attempt in range(1, attempts + 1):
            try:
                with self.session(readonly=readonly) as session:
                    return unit(session)
            except StoreDisconnectedError:
                if attempt >= attempts:
                    raise
                time.sleep(min(0.1 * 2**attempt, 2.0))  # 0.2 .. 1.6 s: let a restarting server come back
        raise AssertionError("unreachable")  # pragma: no cover

    def dispose(self, *, close: bool = True) -> None:
        """Drop every pooled connection (closing it unless ``close`` is False)."""
        self.engine.dispose(close=close)

    def __repr__(self) -> str:
        return f"Store({self.masked_url!r})"


_CONNECT_FAILURES = ("connection failed", "connection refused", "the database system is starting up")


def _connect_failed(e: exc.DBAPIError) -> bool:
    """Return True if no connection could be made (a restarting server): nothing was sent, safe to repeat."""
    return isinstance(e, exc.OperationalError) and any(m in str(e.orig).lower() for m in _CONNECT_FAILURES)


def _refuse_flush(session: Session, _flush_context: Any, _instances: Any) -> None:
    if session.new or session.dirty or session.deleted:
        raise StoreError("a read-only incident-store session tried to write; use store.session()")
