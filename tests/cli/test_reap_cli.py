"""``rcaflows db reap`` fails stuck RCA runs; ``rcaflows incidents show`` says what became of them."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import open_incident
from rich.console import Console
from typer.testing import CliRunner

from rcaflows import cli
from rcaflows.cli import app
from rcaflows.incidents import Action, Store, get_incident, rca_runs, start_rca_run, transition
from rcaflows.incidents.models import RcaStatus
from rcaflows.timeutil import now_utc

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli._common, "console", Console(width=250, soft_wrap=True))
    monkeypatch.setattr(cli._common, "err", Console(width=250, soft_wrap=True, stderr=True))


def _investigating(url: str, runner_info: dict[str, Any]) -> str:
    def start(s: Any, inc: Any) -> None:
        transition(s, inc, Action.INVESTIGATE, "rca:test")
        start_rca_run(
            s,
            incident=inc,
            flow_run_id=None,
            inputs_fingerprint="fp",
            code_version="t",
            parameters={"runner": runner_info},
        )

    return open_incident(url, then=start)


def test_reap_fails_a_dead_run_and_show_says_so(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'i.db'}"
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    import socket

    key = _investigating(url, {"host": socket.gethostname(), "pid": int(proc.stdout), "start": "1"})
    res = runner.invoke(app, ["db", "reap", "--store", url])
    assert res.exit_code == 0, res.output
    assert f"RCA run 1 of {key} (triaged):" in res.output and "is gone; re-queued" in res.output
    assert f"waiting for a re-queued RCA: {key}" in res.output
    shown = runner.invoke(app, ["incidents", "show", key, "--store", url])
    assert shown.exit_code == 0, shown.output
    assert "RCA run 1 failed by the reaper (cli:db-reap" in shown.output
    assert "re-queued (attempt 2 of 2)" in shown.output
    assert "abandon" in shown.output  # the transition back to triaged, in the audit log
    again = runner.invoke(app, ["db", "reap", "--store", url])
    assert "0 RCA run(s) failed by the reaper" in again.output  # nothing left running


def test_reap_now_applies_the_time_limit(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'i.db'}"
    key = _investigating(url, {"host": "another-host", "pid": 1, "start": None})
    assert "0 RCA run(s)" in runner.invoke(app, ["db", "reap", "--store", url]).output
    later = (now_utc() + timedelta(hours=1)).isoformat()
    res = runner.invoke(app, ["db", "reap", "--store", url, "--now", later])
    assert res.exit_code == 0 and "over the time limit of 30m" in res.output
    with Store.from_url(url).session(readonly=True) as s:
        assert [r.status for r in rca_runs(s, key)] == [RcaStatus.FAILED]
        assert get_incident(s, key).state.value == "triaged"
    bad = runner.invoke(app, ["db", "reap", "--store", url, "--now", "tomorrow"])
    assert bad.exit_code != 0 and "--now" in bad.output
