"""A lost database connection mid-write loses and duplicates nothing (PostgreSQL only).

The connection of a unit of work is killed with ``pg_terminate_backend`` from a second
connection (what a server restart or failover does to clients): before commit the unit is rolled
back and :meth:`Store.run` repeats it; during COMMIT the outcome is unknown and is raised, never
retried. Afterwards every count is exact.
"""

from __future__ import annotations

import itertools
import os
import shlex
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from pg import admin_engine, pg_test_url
from rcaflows.incidents import (
    EventKind,
    Incident,
    IncidentEvent,
    NewIncident,
    Store,
    StoreCommitUnknownError,
    StoreDisconnectedError,
    open_or_touch,
    record_event,
)

# PostgreSQL-only: these run in the suite's PostgreSQL pass (RCAFLOWS_TEST_DB_URL set), not the SQLite one.
pytestmark = pytest.mark.skipif(pg_test_url() is None, reason="PostgreSQL pass only: set $RCAFLOWS_TEST_DB_URL")

MakeNew = Callable[..., NewIncident]


@pytest.fixture
def kill() -> Iterator[Callable[[int], None]]:
    """Return a function that terminates a backend by pid from a separate admin connection."""
    url = pg_test_url()
    assert url is not None
    engine = admin_engine(url)

    def terminate(pid: int) -> None:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar() is True

    yield terminate
    engine.dispose()


def _pid(session: Session) -> int:
    return int(session.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())


def _counts(store: Store) -> tuple[int, dict[EventKind, int]]:
    with store.session(readonly=True) as s:
        n = s.scalar(sa.select(sa.func.count()).select_from(Incident))
        kinds = dict(s.execute(sa.select(IncidentEvent.kind, sa.func.count()).group_by(IncidentEvent.kind)).all())
    return int(n or 0), {EventKind(k): int(v) for k, v in kinds.items()}


def test_a_unit_killed_mid_write_is_repeated_and_counted_once(
    store: Store, make_new: MakeNew, kill: Callable[[int], None]
) -> None:
    attempts = itertools.count(1)

    def unit(s: Session) -> str:
        attempt = next(attempts)
        incident, created = open_or_touch(s, make_new())
        record_event(s, incident, EventKind.NOTE, "test", {"attempt": attempt})
        if attempt == 1:
            kill(_pid(s))  # the insert and the note were flushed: the server now rolls them back
            s.execute(sa.text("SELECT 1"))
        assert created
        return incident.key

    key = store.run(unit)
    assert next(attempts) == 3  # two attempts ran
    assert _counts(store) == (1, {EventKind.DETECTED: 1, EventKind.NOTE: 1})
    with store.session(readonly=True) as s:
        note = s.scalars(sa.select(IncidentEvent).where(IncidentEvent.kind == EventKind.NOTE)).one()
    assert note.payload == {"attempt": 2} and key.startswith("INC-")


def test_without_retry_a_killed_unit_fails_cleanly_and_writes_nothing(
    store: Store, make_new: MakeNew, kill: Callable[[int], None]
) -> None:
    with (
        pytest.raises(StoreDisconnectedError, match="nothing of this unit of work was written"),
        store.session() as s,
    ):
        open_or_touch(s, make_new())
        kill(_pid(s))
        s.execute(sa.text("SELECT 1"))
    assert _counts(store) == (0, {})
    with store.session() as s:  # the pool threw the dead connection away
        open_or_touch(s, make_new())
    assert _counts(store) == (1, {EventKind.DETECTED: 1})


def test_a_connection_lost_during_commit_is_reported_as_unknown_not_retried(
    store: Store, make_new: MakeNew, kill: Callable[[int], None]
) -> None:
    runs = itertools.count(1)

    def on_commit(conn: sa.Connection) -> None:
        kill(int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()))

    def unit(s: Session) -> None:
        next(runs)
        open_or_touch(s, make_new())

    sa.event.listen(store.engine, "commit", on_commit)
    try:
        with pytest.raises(StoreCommitUnknownError, match="may or may not have been applied"):
            store.run(unit)
    finally:
        sa.event.remove(store.engine, "commit", on_commit)
    assert next(runs) == 2  # ran once: an ambiguous commit is never repeated blindly
    assert _counts(store) == (0, {})  # killed before the server committed: rolled back


def test_a_stream_of_writes_under_repeated_kills_loses_and_duplicates_nothing(
    store: Store, make_new: MakeNew, kill: Callable[[int], None]
) -> None:
    n = 60
    first_attempt: set[int] = set()
    outcomes: dict[int, Any] = {}

    def unit_for(i: int) -> Callable[[Session], str]:
        def unit(s: Session) -> str:
            incident, created = open_or_touch(s, make_new(component=f"svc-{i}", title=f"incident {i}"))
            assert created, f"unit {i} found its own incident from an earlier attempt"
            record_event(s, incident, EventKind.NOTE, "test", {"i": i})
            if i % 3 == 0 and i not in first_attempt:  # every third unit loses its connection once
                first_attempt.add(i)
                kill(_pid(s))
                s.flush()
                s.execute(sa.text("SELECT 1"))
            return incident.key

        return unit

    for i in range(n):
        outcomes[i] = store.run(unit_for(i))
    assert len(first_attempt) == n // 3
    assert len(set(outcomes.values())) == n
    assert _counts(store) == (n, {EventKind.DETECTED: n, EventKind.NOTE: n})
    with store.session(readonly=True) as s:
        per_incident = s.execute(
            sa.select(IncidentEvent.incident_id, sa.func.count()).group_by(IncidentEvent.incident_id)
        ).all()
    assert sorted(c for _, c in per_incident) == [2] * n


def test_a_server_restart_mid_run_loses_and_duplicates_nothing(store: Store, make_new: MakeNew) -> None:
    if not os.environ.get("RCAFLOWS_TEST_PG_RESTART"):
        msg = "needs $RCAFLOWS_TEST_PG_RESTART, a command that restarts the server ('.ci/start-postgres restart')"
        if os.environ.get("RCAFLOWS_REQUIRE_SERVICES"):  # CI: a missing restart command is a failure
            pytest.fail(msg)
        pytest.skip(msg)

    def started() -> str:
        with store.session(readonly=True) as s:
            return str(s.execute(sa.text("SELECT pg_postmaster_start_time()")).scalar_one())

    before = started()
    restart = threading.Thread(
        target=subprocess.run,
        args=(shlex.split(os.environ["RCAFLOWS_TEST_PG_RESTART"]),),
        kwargs={"check": True, "capture_output": True},
    )
    n = 30
    restart.start()
    for i in range(n):  # each unit retried through the restart by Store.run
        store.run(lambda s, i=i: open_or_touch(s, make_new(component=f"svc-{i}")))
        time.sleep(0.1)
    restart.join()
    assert started() != before, "the server did not restart during the run"
    assert _counts(store) == (n, {EventKind.DETECTED: n})
