"""Fault injection: the SQLite incident store locked by another connection in the middle of a detection run.

Detection reads a real ``files`` source plus two sources that cannot be read, so one run writes two
incidents one after the other. As soon as the first is committed, another connection takes
``BEGIN EXCLUSIVE`` on the same database file for a while (started from a lifecycle subscriber, so
it lands between the run's writes). A lock shorter than the store's busy timeout is waited out; a
longer one fails the run with a StoreError, and the rerun completes what is missing without
writing anything twice.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from tests.detection.detection_data import END, metric_frame

from rcaflows import pipeline
from rcaflows.config.models import SourceConfig, SystemConfig
from rcaflows.errors import StoreError
from rcaflows.incidents import EventKind, Incident, Store, events
from rcaflows.incidents import db as store_db
from rcaflows.incidents.lifecycle_events import IncidentOpened, bus
from rcaflows.vocab import IncidentState


@dataclass
class Locker:
    """Take ``BEGIN EXCLUSIVE`` on a SQLite file for ``hold`` seconds from another connection, once."""

    path: Path
    hold: float
    #: incidents the locking connection saw while it held the lock (None until it ran)
    seen: int | None = None
    released: threading.Event = field(default_factory=threading.Event)
    _taken: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def on_opened(self, event: IncidentOpened, ctx: object) -> None:
        """Subscriber: lock the store after the first incident the run commits; return once the lock is held."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self._taken.wait(10), "the locking connection never got the lock"

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=10)
        try:
            conn.execute("BEGIN EXCLUSIVE")
            self.seen = int(conn.execute("SELECT count(*) FROM incidents").fetchone()[0])
            self._taken.set()
            self.released.wait(self.hold)  # sleep ``hold`` seconds
            conn.execute("COMMIT")
        finally:
            conn.close()
            self.released.set()


@pytest.fixture
def locked_after_first_open(tmp_path: Path) -> Iterator[Locker]:
    """Subscribe a Locker of the test's store to IncidentOpened; unsubscribe after the test."""
    locker = Locker(tmp_path / "incidents.db", hold=1.5)
    bus.subscribe(IncidentOpened, locker.on_opened, name="test-locker")
    yield locker
    bus.unsubscribe("test-locker")
    locker.released.wait(10)


def system(config: SystemConfig, root: Path) -> SystemConfig:
    """Return the demo system on a readable ``files`` source and two sources whose directory is missing."""
    feed = root / "feed"
    feed.mkdir()
    metric_frame(config, np.random.default_rng(5)).to_parquet(feed / "metrics.parquet", index=False)
    sources = [SourceConfig(name="feed", kind="files", options={"directory": str(feed)})] + [
        SourceConfig(name=name, kind="files", retries=0, options={"directory": str(root / name)})
        for name in ("legacy-a", "legacy-b")
    ]
    return config.model_copy(
        update={
            "sources": sources,
            "models": [],
            "store": config.store.model_copy(update={"url": f"sqlite:///{root / 'incidents.db'}"}),
        }
    )


def stored(store: Store) -> list[tuple[str, str, list[str]]]:
    """Return (component, state, event kinds in time order) of every stored incident."""
    with store.session(readonly=True) as s:
        return sorted(
            (i.component, str(i.state), sorted(str(e.kind) for e in events(s, i))) for i in s.query(Incident).all()
        )


OPENED = sorted([str(EventKind.DETECTED), str(EventKind.TRANSITION)])  # detected, then triaged


def test_a_lock_shorter_than_the_busy_timeout_is_waited_out(
    config: SystemConfig, tmp_path: Path, locked_after_first_open: Locker
) -> None:
    cfg = system(config, tmp_path)
    store = Store.from_url(cfg.store.url)
    store.create_all()
    run = pipeline.detect_and_open(store, cfg, END)
    # The lock landed mid-run: after the first incident was committed, before the second.
    assert locked_after_first_open.seen == 1 and locked_after_first_open.released.is_set()
    assert [(o.component, o.action) for o in run.outcome.incidents] == [
        ("source:legacy-a", "opened"),
        ("source:legacy-b", "opened"),
    ]
    triaged = str(IncidentState.TRIAGED)
    assert stored(store) == [("source:legacy-a", triaged, OPENED), ("source:legacy-b", triaged, OPENED)]


def test_a_lock_longer_than_the_busy_timeout_fails_the_run_and_the_rerun_writes_once(
    config: SystemConfig, tmp_path: Path, locked_after_first_open: Locker, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The store waits 30 s for a lock; a quarter second keeps the test short (read when a connection opens).
    monkeypatch.setattr(store_db, "SQLITE_BUSY_TIMEOUT_MS", 250)
    cfg = system(config, tmp_path)
    store = Store.from_url(cfg.store.url)
    store.create_all()
    with pytest.raises(StoreError, match="database is locked"):
        pipeline.detect_and_open(store, cfg, END)
    assert locked_after_first_open.seen == 1
    assert locked_after_first_open.released.wait(10)
    triaged = str(IncidentState.TRIAGED)
    # What committed before the lock stands, whole; the incident being written when it failed left nothing.
    assert stored(store) == [("source:legacy-a", triaged, OPENED)]
    # The store is free again: the rerun finishes the job; the first incident is deduplicated, not doubled.
    rerun = pipeline.detect_and_open(store, cfg, END)
    assert [(o.component, o.action) for o in rerun.outcome.incidents] == [
        ("source:legacy-a", "deduplicated"),
        ("source:legacy-b", "opened"),
    ]
    assert stored(store) == [("source:legacy-a", triaged, OPENED), ("source:legacy-b", triaged, OPENED)]
