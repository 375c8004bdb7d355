"""Benchmark: incident-store throughput on SQLite and PostgreSQL, and ``incidents list`` at 100,000 incidents.

Per backend, each figure once:

* ``incidents_per_s`` — :func:`open_or_touch` of distinct fingerprints, **one transaction each**
  (dedup query, the PostgreSQL advisory lock, the insert and its ``detected`` event), what the
  detection flow does per candidate.
* ``events_per_s`` — :func:`record_event` on one incident, one transaction each (an audit entry
  as a transition writes it).
* ``list_ms`` / ``list_open_ms`` — :func:`list_incidents` (the newest 50; then the newest 50 in
  an open state) over ``n_list`` incidents (100,000; bulk-inserted first), best of 5, warm cache.
* ``cli_list_s`` — the whole ``rcaflows incidents list`` command in-process (Typer, store open,
  query, rich table).

SQLite is a file in a temporary directory (WAL, ``BEGIN IMMEDIATE``); PostgreSQL is the server at
``$RCAFLOWS_BENCH_PG_URL`` or ``$RCAFLOWS_TEST_DB_URL`` (``.ci/start-postgres start`` prints one;
that throwaway cluster runs with ``fsync=off``, so commits there do not wait for the disk), in a
fresh schema dropped afterwards. Without a URL the PostgreSQL row is left out (stderr says so).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from common import row
from rcaflows.incidents import EventKind, Incident, NewIncident, Store, list_incidents, open_or_touch, record_event
from rcaflows.incidents.models import IncidentEvent
from rcaflows.vocab import IncidentState

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _new(i: int) -> NewIncident:
    return NewIncident(
        system="bench",
        type="performance_availability",
        subtype="latency",
        component=f"svc-{i}",
        metric="latency_p99",
        title=f"latency regression on svc-{i}",
        severity="high",
        priority="P2",
        team="sre",
        detected_at=T0 + timedelta(seconds=i),
        details={"z": 7.5, "i": i},
    )


def _bulk_incidents(store: Store, n: int, seed: int = 7) -> None:
    """Insert ``n`` incidents (random states, spread over 90 days) and one event each, in bulk."""
    rng = np.random.default_rng(seed)
    states = list(IncidentState)
    state_idx = rng.integers(0, len(states), n)
    offsets = rng.integers(0, 90 * 86_400, n)
    batch = 10_000
    store.create_all()
    with store.engine.begin() as conn:
        for lo in range(0, n, batch):
            rows = [
                {
                    "system": "bulk",
                    "type": "performance_availability",
                    "subtype": "latency",
                    "title": f"bulk incident {i}",
                    "component": f"svc-{i % 500}",
                    "metric": "latency_p99",
                    "severity": "medium",
                    "priority": "P3",
                    "team": "sre",
                    "fingerprint": f"fp-{i}",
                    "state": states[int(state_idx[i])],
                    "detected_at": T0 + timedelta(seconds=int(offsets[i])),
                    "last_seen_at": T0 + timedelta(seconds=int(offsets[i])),
                    "occurrences": 1,
                    "details": {},
                    "version": 1,
                }
                for i in range(lo, min(lo + batch, n))
            ]
            conn.execute(sa.insert(Incident), rows)


def _throughput(store: Store, n_incidents: int, n_events: int) -> tuple[float, float]:
    t0 = time.perf_counter()
    for i in range(n_incidents):
        with store.session() as s:
            open_or_touch(s, _new(i))
    inc_s = n_incidents / (time.perf_counter() - t0)
    with store.session() as s:
        target, _ = open_or_touch(s, _new(10**9))
    t0 = time.perf_counter()
    for i in range(n_events):
        with store.session() as s:
            record_event(s, target.id, EventKind.NOTE, "bench", {"i": i}, at=T0 + timedelta(seconds=i))
    ev_s = n_events / (time.perf_counter() - t0)
    with store.session(readonly=True) as s:
        n_inc = s.scalar(sa.select(sa.func.count()).select_from(Incident))
        n_ev = s.scalar(sa.select(sa.func.count()).select_from(IncidentEvent))
    # every unit must have landed exactly once: n incidents + the target, one event each + the notes
    assert n_inc == n_incidents + 1 and n_ev == n_incidents + 1 + n_events, (n_inc, n_ev)
    return inc_s, ev_s


def _best_ms(fn: Any, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best * 1000


def _listing(url: str, n_list: int) -> tuple[float, float, float]:
    from typer.testing import CliRunner

    from rcaflows.cli import app

    store = Store(url)
    _bulk_incidents(store, n_list)
    open_states = [IncidentState.DETECTED, IncidentState.TRIAGED, IncidentState.ACKNOWLEDGED]

    def newest() -> None:
        with store.session(readonly=True) as s:
            assert len(list_incidents(s, limit=50)) == 50

    def newest_open() -> None:
        with store.session(readonly=True) as s:
            assert len(list_incidents(s, states=open_states, limit=50)) == 50

    list_ms, open_ms = _best_ms(newest), _best_ms(newest_open)
    store.dispose()
    t0 = time.perf_counter()
    res = CliRunner().invoke(app, ["incidents", "list", "--store", url, "--limit", "50"])
    cli_s = time.perf_counter() - t0
    assert res.exit_code == 0, res.output
    return list_ms, open_ms, cli_s


def _pg_schema(base: str) -> tuple[str, sa.Engine, str]:
    name = f"bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{name}"')
    url = make_url(base).update_query_dict({"options": f"-csearch_path={name}"})
    return url.render_as_string(hide_password=False), admin, name


def _case(backend: str, url: str, list_url: str, n_inc: int, n_ev: int, n_list: int) -> dict[str, Any]:
    store = Store(url)
    inc_s, ev_s = _throughput(store, n_inc, n_ev)
    store.dispose()
    list_ms, open_ms, cli_s = _listing(list_url, n_list)
    return row(
        benchmark="store_bench",
        case=backend,
        incidents=n_inc,
        incidents_per_s=inc_s,
        events=n_ev,
        events_per_s=ev_s,
        n_list=n_list,
        list_ms=list_ms,
        list_open_ms=open_ms,
        cli_list_s=cli_s,
    )


def run(quick: bool) -> list[dict[str, Any]]:
    """Return one row per backend (SQLite, and PostgreSQL when a URL is given)."""
    n_inc, n_ev, n_list = (50, 50, 500) if quick else (1_000, 1_000, 100_000)
    rows = []
    with tempfile.TemporaryDirectory(prefix="rcaflows-store-bench-") as tmp:
        rows.append(_case("sqlite", f"sqlite:///{tmp}/write.db", f"sqlite:///{tmp}/list.db", n_inc, n_ev, n_list))
    pg = os.environ.get("RCAFLOWS_BENCH_PG_URL") or os.environ.get("RCAFLOWS_TEST_DB_URL")
    if not pg:
        print("store_bench: no $RCAFLOWS_BENCH_PG_URL / $RCAFLOWS_TEST_DB_URL: PostgreSQL skipped", file=sys.stderr)
        return rows
    write_url, admin, write_schema = _pg_schema(pg)
    list_url, _, list_schema = _pg_schema(pg)
    try:
        rows.append(_case("postgresql", write_url, list_url, n_inc, n_ev, n_list))
    finally:
        Store.clear_cache()
        with admin.connect() as conn:
            for name in (write_schema, list_schema):
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        admin.dispose()
    return rows


if __name__ == "__main__":
    for r in run(quick="--quick" in sys.argv):
        print(r)
