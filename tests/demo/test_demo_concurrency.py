"""The demo runs its scenarios in forked worker processes: outcomes keep their order, context and failures carry."""

from __future__ import annotations

import contextvars
import os
import time
from pathlib import Path
from typing import Any

import pytest

from rcaflows.demo.run import _concurrently

SETTING: contextvars.ContextVar[str] = contextvars.ContextVar("setting", default="unset")


def test_outcomes_come_back_in_scenario_order_from_worker_processes_that_see_the_callers_context() -> None:
    names = ["slow", "fast", "middle"]
    delays = {"slow": 3.0, "fast": 0.0, "middle": 0.3}  # wide apart: a loaded machine forks slowly
    finished: list[str] = []

    def scenario_run(name: str) -> tuple[Any, float]:
        time.sleep(delays[name])
        return (name, SETTING.get(), os.getpid()), delays[name]

    token = SETTING.set("api-url")  # as the demo's temporary Prefect settings are
    try:
        out = _concurrently(names, scenario_run, 2, lambda _m: None, lambda o, _s: finished.append(o[0]))
    finally:
        SETTING.reset(token)
    assert [o[0] for o in out] == names
    assert finished[0] == "fast" and finished[-1] == "slow"  # reported as they finish
    assert {o[1] for o in out} == {"api-url"}
    pids = {o[2] for o in out}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2  # two worker processes, not this one


def test_a_failing_scenario_fails_the_run_and_the_rest_are_cancelled(tmp_path: Path) -> None:
    log = tmp_path / "started"

    def scenario_run(name: str) -> tuple[Any, float]:
        with log.open("a") as f:
            f.write(name + "\n")
        if name == "b":
            raise RuntimeError("flow failed on b")
        time.sleep(0.2)
        return name, 0.0

    names = ["a", "b"] + [f"later{i}" for i in range(20)]
    with pytest.raises(RuntimeError, match="flow failed on b"):
        _concurrently(names, scenario_run, 1, lambda _m: None, lambda _o, _s: None)
    started = log.read_text().split()
    # One worker: it runs the few scenarios already queued to it (the pool queues workers + 1) before
    # the failure is seen; the other 17 or more never start.
    assert started[:2] == ["a", "b"] and len(started) <= 6


def test_the_costliest_scenarios_start_first(tmp_path: Path) -> None:
    log = tmp_path / "started"

    def scenario_run(name: str) -> tuple[Any, float]:
        with log.open("a") as f:
            f.write(name + "\n")
        return name, 0.0

    cost = {"one": 1.0, "two": 2.0, "also-one": 1.0, "none": 0.0}
    out = _concurrently(list(cost), scenario_run, 1, lambda _m: None, lambda _o, _s: None, cost=cost.__getitem__)
    assert out == list(cost)  # outcomes in the caller's order
    assert log.read_text().split() == ["two", "one", "also-one", "none"]  # started costliest first, ties in order
