"""The reaper: RCA runs that died or overran are failed, audited, moved back and re-queued per policy."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from rcaflows.config import SystemConfig
from rcaflows.config.models import RcaRunPolicy
from rcaflows.demo import demo_config
from rcaflows.incidents import (
    Action,
    EventKind,
    NewIncident,
    Store,
    events,
    get_incident,
    open_or_touch,
    rca_runs,
    start_rca_run,
    transition,
    triage,
)
from rcaflows.incidents.models import RcaStatus
from rcaflows.incidents.reaper import describe_reaped, fail_run, queued_rca, reap, runner_info
from rcaflows.timeutil import now_utc
from rcaflows.vocab import IncidentState

LIMIT = timedelta(minutes=30)


@pytest.fixture
def config() -> SystemConfig:
    cfg = demo_config()
    return cfg.model_copy(update={"rca": cfg.rca.model_copy(update={"runs": RcaRunPolicy(time_limit=LIMIT)})})


@pytest.fixture
def dead_runner() -> dict[str, Any]:
    """Return the runner record of a process of this host that has exited."""
    proc = subprocess.Popen([sys.executable, "-c", "import os; print(os.getpid())"], stdout=subprocess.PIPE)
    out, _ = proc.communicate()
    return {"host": socket.gethostname(), "pid": int(out), "start": "1"}


@pytest.fixture
def live_runner() -> Iterator[dict[str, Any]]:
    """Yield the runner record of a live process of this host (not the test's own)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with open(f"/proc/{proc.pid}/stat") as f:
            start = f.read().rsplit(")", 1)[-1].split()[19]
        yield {"host": socket.gethostname(), "pid": proc.pid, "start": start}
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture
def investigating(store: Store, make_new: Callable[..., NewIncident], config: SystemConfig) -> Callable[..., Any]:
    """Return a factory: an incident under investigation with a ``running`` RCA run; returns (key, run id)."""

    def make(runner: dict[str, Any] | None = None, *, age: timedelta = timedelta(0), key: str | None = None) -> Any:
        with store.session() as s:
            if key is None:
                inc, _ = open_or_touch(s, make_new(system=config.system.name))
                triage(s, inc, "high", "P2", "ml-platform", "detection")
            else:
                inc = get_incident(s, key)
            transition(s, inc, Action.INVESTIGATE, "rca:test")
            run = start_rca_run(
                s,
                incident=inc,
                flow_run_id=None,
                inputs_fingerprint="fp",
                code_version="test",
                parameters={"runner": runner} if runner else {},
            )
            run.started_at = now_utc() - age
            return inc.key, run.id

    return make


def test_a_run_whose_process_died_is_failed_moved_back_and_requeued(
    store: Store, config: SystemConfig, investigating: Callable[..., Any], dead_runner: dict[str, Any]
) -> None:
    key, run_id = investigating(dead_runner)
    result = reap(store, config, actor="detection")
    (r,) = result.reaped
    assert (r.run_id, r.incident, r.reason, r.requeued, r.state) == (run_id, key, "process_gone", True, "triaged")
    assert result.queued == [key]
    with store.session(readonly=True) as s:
        inc = get_incident(s, key)
        assert inc.state is IncidentState.TRIAGED
        (run,) = rca_runs(s, inc)
        assert run.status is RcaStatus.FAILED and run.finished_at is not None
        assert run.results["reaped"]["reason"] == "process_gone"
        log = events(s, inc)
        failed = [e for e in log if e.kind == EventKind.RCA_FAILED]
        assert [e.payload["rca_run_id"] for e in failed] == [run_id] and failed[0].actor == "detection"
        moved = [e for e in log if e.kind == EventKind.TRANSITION and e.payload["action"] == "abandon"]
        assert [(e.payload["from"], e.payload["to"]) for e in moved] == [("investigating", "triaged")]
    line = describe_reaped(run.results)
    assert line is not None and "is gone" in line and "re-queued (attempt 2 of 2)" in line


def test_a_live_run_within_its_limit_is_left_alone(
    store: Store, config: SystemConfig, investigating: Callable[..., Any], live_runner: dict[str, Any]
) -> None:
    key, _ = investigating(live_runner, age=LIMIT - timedelta(minutes=1))
    assert reap(store, config).reaped == []
    with store.session(readonly=True) as s:
        assert get_incident(s, key).state is IncidentState.INVESTIGATING


def test_a_live_run_past_its_time_limit_is_failed(
    store: Store, config: SystemConfig, investigating: Callable[..., Any], live_runner: dict[str, Any]
) -> None:
    investigating(live_runner, age=LIMIT + timedelta(minutes=1))
    (r,) = reap(store, config).reaped
    assert r.reason == "time_limit" and "over the time limit of 30m" in r.detail


def test_a_run_on_another_host_waits_for_its_time_limit(
    store: Store, config: SystemConfig, investigating: Callable[..., Any]
) -> None:
    elsewhere = {"host": "some-other-host", "pid": 1, "start": None}
    investigating(elsewhere, age=timedelta(minutes=5))
    assert reap(store, config).reaped == []
    assert [r.reason for r in reap(store, config, now=now_utc() + LIMIT).reaped] == ["time_limit"]


def test_a_recycled_pid_does_not_keep_a_run_alive(
    store: Store, config: SystemConfig, investigating: Callable[..., Any], live_runner: dict[str, Any]
) -> None:
    investigating({**live_runner, "start": "0"})  # same pid, another process start: not the run's process
    assert [r.reason for r in reap(store, config).reaped] == ["process_gone"]


def test_a_crashed_flow_run_fails_its_rca_run(
    store: Store, config: SystemConfig, investigating: Callable[..., Any]
) -> None:
    key, run_id = investigating()
    with store.session() as s:
        (run,) = rca_runs(s, key)
        run.flow_run_id = "0b9d6c5e-0000-4000-8000-000000000001"
    asked: list[list[str]] = []

    def states(ids: list[str]) -> dict[str, str]:
        asked.append(ids)
        return dict.fromkeys(ids, "CRASHED")

    (r,) = reap(store, config, flow_states=states).reaped
    assert asked == [["0b9d6c5e-0000-4000-8000-000000000001"]]
    assert (r.run_id, r.reason) == (run_id, "flow_run_crashed")


def test_requeue_stops_after_max_attempts(
    store: Store, config: SystemConfig, investigating: Callable[..., Any], dead_runner: dict[str, Any]
) -> None:
    key, _ = investigating(dead_runner)
    assert reap(store, config).queued == [key]
    investigating(dead_runner, key=key)  # the re-queued run: attempt 2 of 2, which also dies
    result = reap(store, config)
    (r,) = result.reaped
    assert (r.attempt, r.requeued, r.state) == (2, False, "triaged")
    assert result.queued == [] and queued_rca(store, config.system.name) == []
    with store.session(readonly=True) as s:
        runs = rca_runs(s, key)
        assert [x.status for x in runs] == [RcaStatus.FAILED, RcaStatus.FAILED]
        assert "not re-queued (2 of 2 attempts used)" in (describe_reaped(runs[-1].results) or "")


def test_a_finished_run_cannot_be_reaped_twice(
    store: Store, config: SystemConfig, investigating: Callable[..., Any]
) -> None:
    _, run_id = investigating()
    first = fail_run(store, run_id, ("time_limit", "over"), 2, "a")
    again = fail_run(store, run_id, ("time_limit", "over"), 2, "b")
    assert first is not None and again is None


def test_our_own_process_is_alive(store: Store, config: SystemConfig, investigating: Callable[..., Any]) -> None:
    me = runner_info()
    assert me["pid"] == os.getpid() and me["host"] == socket.gethostname()
    investigating(me)
    assert reap(store, config).reaped == []
