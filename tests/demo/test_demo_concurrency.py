"""The demo runs its scenarios side by side: outcomes keep the scenarios' order, context and failures carry over."""

from __future__ import annotations

import contextvars
import threading
import time
from typing import Any

import pytest

from rcaflows.demo.run import _concurrently

SETTING: contextvars.ContextVar[str] = contextvars.ContextVar("setting", default="unset")


def test_outcomes_come_back_in_scenario_order_and_see_the_callers_context() -> None:
    names = ["slow", "fast", "middle"]
    delays = {"slow": 0.3, "fast": 0.0, "middle": 0.1}
    seen: dict[str, tuple[str, str]] = {}
    finished: list[str] = []

    def scenario_run(name: str) -> tuple[Any, float]:
        time.sleep(delays[name])
        seen[name] = (SETTING.get(), threading.current_thread().name)
        return f"outcome-{name}", delays[name]

    token = SETTING.set("api-url")  # as the demo's temporary Prefect settings are
    try:
        out = _concurrently(names, scenario_run, 2, lambda _m: None, lambda o, _s: finished.append(o))
    finally:
        SETTING.reset(token)
    assert out == ["outcome-slow", "outcome-fast", "outcome-middle"]
    assert finished[0] == "outcome-fast" and finished[-1] == "outcome-slow"  # reported as they finish
    assert {v[0] for v in seen.values()} == {"api-url"}
    assert {v[1] for v in seen.values()} <= {"demo_0", "demo_1"}


def test_a_failing_scenario_fails_the_run_and_the_rest_are_cancelled() -> None:
    started: list[str] = []

    def scenario_run(name: str) -> tuple[Any, float]:
        started.append(name)
        if name == "b":
            raise RuntimeError("flow failed on b")
        time.sleep(0.05)
        return name, 0.0

    names = ["a", "b"] + [f"later{i}" for i in range(20)]
    with pytest.raises(RuntimeError, match="flow failed on b"):
        _concurrently(names, scenario_run, 1, lambda _m: None, lambda _o, _s: None)
    # One at a time: the worker may have taken the next scenario before the failure was seen, no more.
    assert started[:2] == ["a", "b"] and len(started) <= 3
