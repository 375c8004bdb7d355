"""``kill -9`` at each step of a detection run: afterwards no incident is lost or doubled and no RCA run is stuck.

Each case runs the real detection flow in a subprocess against a SQLite file and the session's
Prefect API; the subprocess SIGKILLs itself right after the named step did its work
(:mod:`kill_driver`). The next detection run of the same hour must then leave the store as one
clean run leaves it: the same incidents, once each, each investigated by exactly one completed
RCA run, and no run still ``running`` (a killed one is failed by the reaper and re-queued).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from rcaflows.demo import DEMO_END, write_demo_config
from rcaflows.incidents import Store, list_incidents, rca_runs

# one worker runs the whole module: its module fixture (13 detection runs) would otherwise run once per worker
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("kill")]

DRIVER = Path(__file__).with_name("kill_driver.py")
SCENARIO = "dependency_timeout"
sys.path.insert(0, str(DRIVER.parent))
from kill_driver import STEPS  # noqa: E402


def _detect(config: Path, store_url: str, cwd: Path, step: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run one detection of the demo hour in a fresh process (killed at ``step`` if given)."""
    import prefect.settings as ps

    env = {**os.environ, "PREFECT_API_URL": str(ps.PREFECT_API_URL.value()), "RCAFLOWS_STORE_URL": store_url}
    args = [sys.executable, str(DRIVER), str(config), DEMO_END.isoformat(), *([step] if step else [])]
    return subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=900, check=False)


def _state(store_url: str) -> list[dict[str, Any]]:
    """Return each incident's fingerprint, state and RCA-run statuses, by fingerprint."""
    store = Store(store_url)
    try:
        with store.session(readonly=True) as s:
            out = []
            for inc in list_incidents(s, limit=1000):
                runs = rca_runs(s, inc)
                out.append(
                    {
                        "fingerprint": inc.fingerprint,
                        "state": inc.state.value,
                        "runs": [r.status.value for r in runs],
                        "reaped": [bool((r.results or {}).get("reaped")) for r in runs],
                    }
                )
            return sorted(out, key=lambda x: x["fingerprint"])
    finally:
        store.dispose()


#: kill cases run at once (each in its own store): the runs spend much of their time importing and
#: waiting on the API, so four overlap well even on two cores
PARALLEL = 4


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, prefect_api: None) -> dict[str | None, dict[str, Any]]:
    """Run the hour once unkilled (key None) and, per step, killed there then again; return what each left."""

    keys: list[str | None] = [None, *STEPS]
    roots = {k: tmp_path_factory.mktemp(f"kill-{k or 'clean'}") for k in keys}  # made here: mktemp is not threaded

    def case(step: str | None) -> dict[str, Any]:
        root = roots[step]
        config = write_demo_config(SCENARIO, root / "configs")
        url = f"sqlite:///{root / 'incidents.db'}"
        first = _detect(config, url, root, step)
        out: dict[str, Any] = {"first": first, "after_first": _state(url)}
        if step is not None and first.returncode == -signal.SIGKILL:
            out["again"] = _detect(config, url, root)
            out["state"] = _state(url)
        return out

    with ThreadPoolExecutor(PARALLEL) as pool:
        return dict(zip(keys, pool.map(case, keys), strict=True))


@pytest.fixture(scope="module")
def clean(runs: dict[str | None, dict[str, Any]]) -> list[dict[str, Any]]:
    """Return the store's incidents after one detection run that nobody killed."""
    done = runs[None]["first"]
    assert done.returncode == 0, done.stderr[-3000:]
    json.loads(done.stdout.strip().splitlines()[-1])
    state = runs[None]["after_first"]
    assert state, "the scenario should open incidents"
    assert all(x["runs"] == ["completed"] and x["state"] == "investigating" for x in state), state
    return state


@pytest.mark.parametrize("step", list(STEPS))
def test_kill_9_at_each_step_loses_nothing_and_leaves_no_run_stuck(
    step: str, runs: dict[str | None, dict[str, Any]], clean: list[dict[str, Any]]
) -> None:
    killed = runs[step]["first"]
    assert killed.returncode == -signal.SIGKILL, f"not killed at {step}: {killed.stderr[-3000:]}"
    after_kill = runs[step]["after_first"]
    if step in ("rca", "report"):  # the killed run is left 'running', as a real crash leaves it
        assert any("running" in x["runs"] for x in after_kill), after_kill
    again = runs[step]["again"]
    assert again.returncode == 0, again.stderr[-3000:]
    state = runs[step]["state"]
    # Not lost, not doubled: the same fingerprints as a clean run, once each.
    assert [x["fingerprint"] for x in state] == [x["fingerprint"] for x in clean]
    for x in state:
        assert "running" not in x["runs"], x  # nothing stuck
        assert x["runs"].count("completed") == 1, x  # investigated once, not twice
        assert x["state"] == "investigating", x
        # A failed run is only ever the killed one, failed by the reaper.
        assert all(reaped for status, reaped in zip(x["runs"], x["reaped"], strict=True) if status == "failed"), x
    if step in ("rca", "report"):
        assert sum(x["runs"].count("failed") for x in state) == 1
