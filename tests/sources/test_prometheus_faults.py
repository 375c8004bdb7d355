"""Fault injection: a Prometheus that errors, times out or answers partially for some queries, then recovers.

A small real HTTP server on localhost speaks the ``/api/v1/query_range`` API over seeded minute
series of the demo system (one query per component); each query can be given a plan of faults
served before it answers cleanly. The whole detection pipeline reads it through the real
``prometheus`` source and stores incidents in a real SQLite store.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.detection.detection_data import END, metric_frame

from rcaflows import pipeline
from rcaflows.config import load_config
from rcaflows.config.models import SourceConfig, SystemConfig
from rcaflows.incidents import EventKind, Incident, Store, events, list_incidents
from rcaflows.vocab import IncidentState

#: how long a "timeout" fault stalls the answer; the sources give up after TIMEOUT_S
STALL_S, TIMEOUT_S = 3.0, 1.0  # a loaded 2-core machine answers a normal query well within 1 s


def seconds(ts: pd.Series) -> np.ndarray:
    """Return unix seconds of a timestamp column, whatever its resolution."""
    return ((ts - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)).to_numpy(dtype=float)


@dataclass
class FlakyPrometheus:
    """A localhost Prometheus stand-in: query ``comp:<name>`` returns every series of that component."""

    frame: pd.DataFrame
    #: per query, the faults served (one per request) before it answers cleanly
    plan: dict[str, list[str]] = field(default_factory=dict)
    #: requests received per query
    calls: Counter[str] = field(default_factory=Counter)
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def next_fault(self, query: str) -> str | None:
        """Count a request of ``query`` and return the fault to serve, if any is left."""
        with self._lock:
            self.calls[query] += 1
            queue = self.plan.get(query) or []
            return queue.pop(0) if queue else None

    def matrix(self, query: str, first: float, last: float) -> list[dict[str, object]]:
        """Return the series of the component ``query`` names at the evaluation times ``first..last``."""
        comp = query.removeprefix("comp:")
        ts = seconds(self.frame["timestamp"])
        rows = self.frame[(self.frame["component"] == comp) & (ts >= first) & (ts <= last)]
        out = []
        for metric, g in rows.groupby("metric", sort=True):
            t = seconds(g["timestamp"])
            out.append(
                {
                    "metric": {"__name__": metric, "component": comp},
                    "values": [[float(a), repr(float(b))] for a, b in zip(t, g["value"].to_numpy(), strict=True)],
                }
            )
        return out


@pytest.fixture
def flaky(tmp_path: Path) -> Iterator[FlakyPrometheus]:
    """Start a FlakyPrometheus over seeded demo series; stop it after the test."""
    cfg = load_config()
    prom = FlakyPrometheus(frame=metric_frame(cfg, np.random.default_rng(11)))

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            qs = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
            query = qs["query"][0]
            fault = prom.next_fault(query)
            status, body = 200, {"status": "success", "data": {"resultType": "matrix", "result": []}}
            if fault == "timeout":
                time.sleep(STALL_S)
            elif fault == "500":
                status, body = 500, {"status": "error", "errorType": "internal", "error": "storage unavailable"}
            elif fault == "bad_data":
                status, body = 422, {"status": "error", "errorType": "execution", "error": "query timed out"}
            if status == 200:
                result = prom.matrix(query, float(qs["start"][0]), float(qs["end"][0]))
                body = {"status": "success", "data": {"resultType": "matrix", "result": result}}
                if fault == "partial":
                    body["warnings"] = ["store gateway 2 of 3 unreachable"]
            raw = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up on a stalled answer

        def log_message(self, *args: object) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    prom.url = f"http://127.0.0.1:{srv.server_address[1]}"
    yield prom
    srv.shutdown()
    srv.server_close()


def system(prom: FlakyPrometheus, root: Path, retries: int = 2) -> tuple[SystemConfig, str]:
    """Return the demo system read by two Prometheus sources (``edge`` reads one component) and that component."""
    cfg = load_config()
    comps = sorted(prom.frame["component"].unique())
    edge = comps[-1]

    def spec(name: str, names: list[str]) -> SourceConfig:
        queries = [{"query": f"comp:{c}", "metric_label": "__name__", "component_label": "component"} for c in names]
        options = {"url": prom.url, "step": "60s", "timeout": f"{TIMEOUT_S}s", "backoff": 0.01, "queries": queries}
        return SourceConfig(name=name, kind="prometheus", retries=retries, options=options)

    cfg = cfg.model_copy(
        update={
            "sources": [spec("core", comps[:-1]), spec("edge", [edge])],
            "store": cfg.store.model_copy(update={"url": f"sqlite:///{root / 'incidents.db'}"}),
            "models": [],
        }
    )
    return cfg, edge


def stored(store: Store, cfg: SystemConfig) -> list[tuple[str, str | None, str, int]]:
    """Return (component, subtype, state, number of events) of every stored incident."""
    with store.session(readonly=True) as s:
        return sorted(
            (i.component, i.subtype, str(i.state), len(events(s, i))) for i in list_incidents(s, system=cfg.system.name)
        )


def test_transient_faults_are_retried_and_leave_no_trace(flaky: FlakyPrometheus, tmp_path: Path) -> None:
    cfg, edge = system(flaky, tmp_path)
    first_core = sorted(flaky.frame["component"].unique())[0]
    # One 500 then one stall on a core query, one stall on the edge query: all within two retries.
    flaky.plan = {f"comp:{first_core}": ["500", "timeout"], f"comp:{edge}": ["timeout"]}
    store = Store.from_url(cfg.store.url)
    store.create_all()
    run = pipeline.detect_and_open(store, cfg, END)
    assert run.data.missing_sources == () and run.data.source_errors == {}
    assert not run.report.failed, [(c.component, c.metric, c.check) for c in run.report.failed]
    assert run.outcome.incidents == [] and stored(store, cfg) == []
    n_comps = flaky.frame["component"].nunique()
    # Exactly one request per query, plus one per fault served.
    assert sum(flaky.calls.values()) == n_comps + 3
    assert flaky.calls[f"comp:{first_core}"] == 3 and flaky.calls[f"comp:{edge}"] == 2
    assert sorted(run.data.metrics["component"].unique()) == sorted(flaky.frame["component"].unique())


@pytest.mark.parametrize(
    ("faults", "message", "requests"),
    [
        (["500"] * 3, "HTTP 500 internal: storage unavailable", 3),  # retried twice, then given up
        (["timeout"] * 3, f"did not answer within {TIMEOUT_S:g} s (3 attempt(s))", 3),
        (["partial"], "partial data, Prometheus warned: store gateway 2 of 3 unreachable", 1),  # not retried
        (["bad_data"], "HTTP 422 execution: query timed out", 1),  # a 4xx is not retried
    ],
)
def test_an_exhausted_source_opens_one_unreadable_incident_that_resolves_on_recovery(
    flaky: FlakyPrometheus, tmp_path: Path, faults: list[str], message: str, requests: int
) -> None:
    cfg, edge = system(flaky, tmp_path)
    flaky.plan = {f"comp:{edge}": list(faults)}
    store = Store.from_url(cfg.store.url)
    store.create_all()

    down = pipeline.detect_and_open(store, cfg, END)
    # The run completes; the failed source and its query are named; the other source's data stands.
    assert down.data.missing_sources == ("edge",)
    assert set(down.data.source_errors) == {"edge"}
    assert f"edge: query '{{__name__}}' (comp:{edge})" in down.data.source_errors["edge"]
    assert message in down.data.source_errors["edge"]
    assert flaky.calls[f"comp:{edge}"] == requests
    assert edge not in set(down.data.metrics["component"])
    assert down.data.source_components["core"] == tuple(sorted(set(flaky.frame["component"]) - {edge}))
    assert [(o.component, o.subtype, o.action) for o in down.outcome.incidents] == [
        ("source:edge", "unreadable", "opened")
    ]
    # Opened and triaged: two events in its audit log.
    assert stored(store, cfg) == [("source:edge", "unreadable", str(IncidentState.TRIAGED), 2)]

    # The faults are used up: the same window reads cleanly now and the incident resolves.
    back = pipeline.detect_and_open(store, cfg, END)
    assert back.data.missing_sources == () and back.data.source_errors == {}
    assert back.outcome.incidents == []
    assert back.outcome.resolved == [down.outcome.incidents[0].key]
    assert stored(store, cfg) == [("source:edge", "unreadable", str(IncidentState.RESOLVED), 4)]
    with store.session(readonly=True) as s:
        (inc,) = s.query(Incident).all()
        kinds = [(e.kind, (e.payload or {}).get("action")) for e in events(s, inc)]
    assert sorted(kinds, key=str) == sorted(
        [(EventKind.DETECTED, None), (EventKind.TRANSITION, "triage"), (EventKind.NOTE, None),
         (EventKind.TRANSITION, "resolve")],
        key=str,
    )  # fmt: skip


def test_a_source_down_for_two_runs_keeps_one_incident(flaky: FlakyPrometheus, tmp_path: Path) -> None:
    cfg, edge = system(flaky, tmp_path, retries=1)
    flaky.plan = {f"comp:{edge}": ["500"] * 4}  # two runs of two attempts each
    store = Store.from_url(cfg.store.url)
    store.create_all()
    first = pipeline.detect_and_open(store, cfg, END)
    second = pipeline.detect_and_open(store, cfg, END)
    (opened,) = first.outcome.incidents
    assert [(o.key, o.action) for o in second.outcome.incidents] == [(opened.key, "deduplicated")]
    assert second.outcome.resolved == [] and flaky.calls[f"comp:{edge}"] == 4
    third = pipeline.detect_and_open(store, cfg, END)
    assert third.outcome.resolved == [opened.key] and flaky.calls[f"comp:{edge}"] == 5
    # Opened, triaged, resolved (with the escalation cancelled): one incident, four events.
    assert stored(store, cfg) == [("source:edge", "unreadable", str(IncidentState.RESOLVED), 4)]
    # A fourth run opens nothing and resolves nothing twice; it only starts the post-resolution watch.
    fourth = pipeline.detect_and_open(store, cfg, END)
    assert fourth.outcome.incidents == [] and fourth.outcome.resolved == []
    assert stored(store, cfg) == [("source:edge", "unreadable", str(IncidentState.RESOLVED), 5)]
    with store.session(readonly=True) as s:
        (inc,) = s.query(Incident).all()
        assert [e.payload["step"] for e in events(s, inc) if e.kind == EventKind.VALIDATION] == ["started"]
