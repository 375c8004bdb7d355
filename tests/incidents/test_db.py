from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from rcaflows.errors import StoreError
from rcaflows.incidents import (
    EventKind,
    Incident,
    IncidentEvent,
    NewIncident,
    Store,
    events,
    get_incident,
    list_incidents,
    mask_url,
    open_or_touch,
    record_event,
    transition,
)
from rcaflows.vocab import IncidentState

MakeNew = Callable[..., NewIncident]


def _open(store: Store, new: NewIncident) -> str:
    with store.session() as s:
        return open_or_touch(s, new)[0].key


@pytest.fixture
def sqlite_only(is_sqlite: bool) -> None:
    if not is_sqlite:
        pytest.skip("SQLite-specific")


# -- engine and connection setup ----------------------------------------------------------------


def test_sqlite_file_store_creates_parent_directories(tmp_path: Path, make_new: MakeNew) -> None:
    db = tmp_path / "deep" / "er" / "incidents.db"
    store = Store(f"sqlite:///{db}")
    try:
        _open(store, make_new())
        assert db.is_file()
    finally:
        store.dispose()


def test_sqlite_pragmas_are_set_on_every_connection(store: Store, sqlite_only: None) -> None:
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def test_foreign_keys_are_enforced(store: Store) -> None:
    with pytest.raises(StoreError, match=r"(?i)foreign key"), store.session() as s:
        s.add(IncidentEvent(incident_id=4242, at=datetime.now(UTC), actor="x", kind=EventKind.NOTE))
    with store.session(readonly=True) as s:
        assert s.scalars(sa.select(IncidentEvent)).all() == []


def test_from_url_caches_one_store_per_url(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cached.db'}"
    try:
        assert Store.from_url(url) is Store.from_url(url)
        assert Store.from_url(url) is not Store.from_url(f"sqlite:///{tmp_path / 'other.db'}")
    finally:
        Store.clear_cache()


def test_errors_name_the_url_with_the_password_masked() -> None:
    assert mask_url("postgresql+psycopg://rca:s3cret@db.internal:5432/incidents") == (
        "postgresql+psycopg://rca:***@db.internal:5432/incidents"
    )
    with pytest.raises(StoreError) as err:
        Store("postgresql+nosuchdriver://rca:s3cret@db.internal/incidents")
    assert "s3cret" not in str(err.value)
    assert "rca:***@db.internal" in str(err.value)
    with pytest.raises(StoreError, match="malformed") as err:
        Store("not a url at all")
    assert "not a url at all" in str(err.value)


def test_database_errors_become_store_errors_naming_the_url(tmp_path: Path) -> None:
    db = tmp_path / "garbage.db"
    db.write_bytes(b"this is not a SQLite database" * 100)
    store = Store(f"sqlite:///{db}")
    try:
        with pytest.raises(StoreError, match=f"{db}.*not a database"), store.session(readonly=True) as s:
            list_incidents(s)
    finally:
        store.dispose()


def test_a_sqlite_path_under_a_file_is_refused_with_the_url(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(StoreError, match=r"cannot create the directory .*file/sub"):
        Store(f"sqlite:///{tmp_path / 'file' / 'sub' / 'x.db'}")


# -- storage formats ----------------------------------------------------------------------------


def test_enums_are_stored_as_readable_text(store: Store, make_new: MakeNew) -> None:
    key = _open(store, make_new())
    with store.session() as s:
        transition(s, key, "acknowledge", "user:alice")
    with store.engine.connect() as conn:
        row = conn.execute(sa.text("SELECT type, severity, priority, state FROM incidents")).one()
        kinds = conn.execute(sa.text("SELECT kind FROM incident_events ORDER BY id")).scalars().all()
    assert tuple(row) == ("data_quality", "high", "P2", "acknowledged")
    assert kinds == ["detected", "transition"]


def test_timestamps_come_back_aware_utc(store: Store, make_new: MakeNew) -> None:
    from datetime import timedelta, timezone

    cet = timezone(timedelta(hours=1))
    key = _open(store, make_new(detected_at=datetime(2026, 3, 1, 13, 30, tzinfo=cet)))
    with store.session(readonly=True) as s:
        inc = get_incident(s, key)
    assert inc.detected_at == datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    assert inc.detected_at.utcoffset() == timedelta(0)


def test_naive_timestamps_are_refused_by_the_column_type(store: Store) -> None:
    with pytest.raises(StoreError, match="no timezone"), store.session() as s:
        s.add(
            Incident(
                system="s",
                type="data_quality",
                subtype="x",
                title="t",
                component="c",
                severity="low",
                priority="P5",
                team="t",
                fingerprint="f",
                state=IncidentState.DETECTED,
                detected_at=datetime(2026, 1, 1),
                last_seen_at=datetime(2026, 1, 1),
            )
        )
    with store.session(readonly=True) as s:
        assert list_incidents(s) == []


def test_version_counts_updates(store: Store, make_new: MakeNew) -> None:
    key = _open(store, make_new())
    with store.session() as s:
        v1 = get_incident(s, key).version
        transition(s, key, "acknowledge", "user:alice")
    with store.session(readonly=True) as s:
        assert get_incident(s, key).version == v1 + 1


# -- one transaction per unit of work -----------------------------------------------------------


def test_a_failing_unit_of_work_leaves_nothing_written(store: Store, make_new: MakeNew) -> None:
    with pytest.raises(RuntimeError, match="boom"), store.session() as s:
        inc, _ = open_or_touch(s, make_new())
        transition(s, inc, "acknowledge", "user:alice")
        record_event(s, inc, EventKind.NOTE, "user:alice", {"text": "half-way"})
        raise RuntimeError("boom")
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM incidents")).scalar() == 0
        assert conn.execute(sa.text("SELECT count(*) FROM incident_events")).scalar() == 0


def test_a_refused_transition_rolls_back_earlier_changes_of_the_same_unit(store: Store, make_new: MakeNew) -> None:
    key = _open(store, make_new())
    with pytest.raises(StoreError), store.session() as s:
        transition(s, key, "resolve", "user:alice")
        transition(s, key, "acknowledge", "user:alice")  # refused: resolved
    with store.session(readonly=True) as s:
        assert get_incident(s, key).state is IncidentState.DETECTED
        assert [e.kind for e in events(s, key)] == [EventKind.DETECTED]


def test_a_readonly_session_refuses_to_write(store: Store, make_new: MakeNew) -> None:
    with pytest.raises(StoreError, match="read-only"), store.session(readonly=True) as s:
        open_or_touch(s, make_new())
    with store.session(readonly=True) as s:
        assert list_incidents(s) == []


# -- the audit log is append-only ---------------------------------------------------------------


def test_orm_refuses_to_update_an_event(store: Store, make_new: MakeNew) -> None:
    key = _open(store, make_new())
    with pytest.raises(StoreError, match="append-only"), store.session() as s:
        (ev,) = events(s, key)
        ev.actor = "someone-else"
        s.flush()
    with store.session(readonly=True) as s:
        assert events(s, key)[0].actor == "detection"


def test_orm_refuses_to_delete_an_event(store: Store, make_new: MakeNew) -> None:
    key = _open(store, make_new())
    with pytest.raises(StoreError, match="append-only"), store.session() as s:
        s.delete(events(s, key)[0])
        s.flush()
    with store.session(readonly=True) as s:
        assert len(events(s, key)) == 1


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE incident_events SET actor = 'someone-else'",
        "UPDATE incident_events SET payload = '{}'",
        "DELETE FROM incident_events",
    ],
)
def test_database_trigger_refuses_raw_update_and_delete(store: Store, make_new: MakeNew, sql: str) -> None:
    key = _open(store, make_new())
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), store.engine.begin() as conn:
        conn.exec_driver_sql(sql)
    with store.session(readonly=True) as s:
        (ev,) = events(s, key)
    assert ev.actor == "detection" and ev.payload["details"] == {"null_rate": 0.14, "baseline": 0.002}


def test_deleting_an_incident_with_history_is_refused(store: Store, make_new: MakeNew) -> None:
    key = _open(store, make_new())
    with pytest.raises(sa.exc.DBAPIError), store.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM incidents")
    with store.session(readonly=True) as s:
        assert get_incident(s, key).key == key


def test_json_columns_take_common_evidence_values(store: Store, make_new: MakeNew) -> None:
    import numpy as np

    onset = datetime(2026, 3, 1, 11, 0, tzinfo=UTC)
    details = {
        "onset": onset,
        "state": IncidentState.DETECTED,
        "p_value": float("nan"),
        "shift": np.float64(2.5),
        "count": np.int64(7),
        "series": np.array([1.0, np.inf]),
        "components": {"b", "a"},
    }
    key = _open(store, make_new(details=details))
    with store.session(readonly=True) as s:
        stored = get_incident(s, key).details
    assert stored == {
        "onset": "2026-03-01T11:00:00+00:00",
        "state": "detected",
        "p_value": None,
        "shift": 2.5,
        "count": 7,
        "series": [1.0, None],
        "components": ["a", "b"],
    }


def test_json_columns_refuse_unknown_objects_loudly(store: Store, make_new: MakeNew) -> None:
    with pytest.raises(StoreError, match="cannot store a object"), store.session() as s:
        open_or_touch(s, make_new(details={"x": object()}))
    with store.session(readonly=True) as s:
        assert list_incidents(s) == []


def _sqlite_store(tmp_path: Path, name: str = "incidents.db") -> Store:
    store = Store(f"sqlite:///{tmp_path / name}")
    store.create_all()
    return store


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_a_store_file_deleted_or_replaced_mid_run_fails_loudly(tmp_path: Path, make_new: MakeNew, how: str) -> None:
    store = _sqlite_store(tmp_path)
    _open(store, make_new(metric="first"))
    db = tmp_path / "incidents.db"
    with pytest.raises(StoreError, match=how), store.session() as s:  # the run is mid-way: its unit is open
        open_or_touch(s, make_new(metric="lost"))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        if how == "replaced":
            other = _sqlite_store(tmp_path, "other.db")
            other.dispose()
            (tmp_path / "other.db").rename(db)
    for readonly in (False, True):  # and every later unit, until the run starts again
        with pytest.raises(StoreError, match=how), store.session(readonly=readonly) as s:
            list_incidents(s)
    store.dispose()


def test_db_backup_copies_what_is_still_in_the_wal(tmp_path: Path, make_new: MakeNew) -> None:
    from typer.testing import CliRunner

    from rcaflows.cli import app

    store = _sqlite_store(tmp_path)
    keys = [_open(store, make_new(metric=f"m{i}")) for i in range(3)]
    assert Path(f"{tmp_path / 'incidents.db'}-wal").stat().st_size > 0  # the rows are (also) in the WAL
    url = f"sqlite:///{tmp_path / 'incidents.db'}"
    res = CliRunner().invoke(app, ["db", "backup", str(tmp_path / "copy.db"), "--store", url])
    assert res.exit_code == 0, res.output
    copy = Store(f"sqlite:///{tmp_path / 'copy.db'}")
    with copy.session(readonly=True) as s:
        assert sorted(i.key for i in list_incidents(s)) == sorted(keys)
    copy.dispose()
    again = CliRunner().invoke(app, ["db", "backup", str(tmp_path / "copy.db"), "--store", url])
    assert again.exit_code == 2 and "exists" in again.output  # never overwrites
    pg = CliRunner().invoke(app, ["db", "backup", "x.db", "--store", "postgresql+psycopg://u@localhost:1/db"])
    assert pg.exit_code == 2 and "pg_dump" in pg.output
    store.dispose()


def test_over_long_values_are_refused_alike_on_every_store(store: Store, make_new: MakeNew) -> None:
    from rcaflows.incidents import triage

    key = _open(store, make_new())
    with (
        pytest.raises(StoreError, match=r"incidents\.team: 201 characters .* longer than the 200"),
        store.session() as s,
    ):
        triage(s, key, "high", "P2", "t" * 201, "test")  # SQLite alone would have kept it
    with store.session(readonly=True) as s:
        assert get_incident(s, key).state is IncidentState.DETECTED  # nothing of the unit was kept


def test_long_names_from_the_data_are_stored_unique_and_never_drop_other_incidents(
    store: Store, make_new: MakeNew
) -> None:
    long_a, long_b = "svc-" + "a" * 300, "svc-" + "a" * 299 + "b"  # same first 200 characters
    news = [make_new(component=long_a, title="x" * 900), make_new(component=long_b), make_new(component="ok")]
    assert all(len(n.component) <= 200 and len(n.title) <= 500 for n in news)
    keys = [_open(store, n) for n in news]
    with store.session(readonly=True) as s:
        stored = [get_incident(s, k) for k in keys]
    assert len(set(keys)) == 3 and len({i.component for i in stored}) == 3 and len({i.fingerprint for i in stored}) == 3
    assert stored[0].component.startswith("svc-aaa") and stored[2].component == "ok"
