"""``rcaflows rank``: CSV in, ranked causes out; bad CSVs give one-line errors naming file, line and field."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from rcaflows.cli import _common, app
from rcaflows.rca.evaluation import load_case, to_wide

runner = CliRunner()
CASE = Path(__file__).resolve().parents[1] / "rca" / "cases" / "case00012-drift"


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Render tables wide enough that cells are not folded (CliRunner is not a terminal)."""
    from rich.console import Console

    monkeypatch.setattr(_common, "console", Console(width=250, soft_wrap=True))


def write_case(tmp_path: Path) -> tuple[Path, Path, str, str]:
    """Write the recorded drift case as plain CSVs; return metrics, topology, time and truth."""
    case = load_case(CASE)
    metrics = tmp_path / "metrics.csv"
    case.metrics.to_csv(metrics, index=False, date_format="%Y-%m-%dT%H:%M:%SZ")
    topo = tmp_path / "topology.csv"
    pd.DataFrame(list(case.topology.edges), columns=["source", "target"]).to_csv(topo, index=False)
    return metrics, topo, case.incident_time.strftime("%Y-%m-%dT%H:%M:%SZ"), case.root


def test_rank_prints_the_root_cause_first(tmp_path: Path) -> None:
    metrics, topo, at, root = write_case(tmp_path)
    res = runner.invoke(app, ["rank", "--metrics", str(metrics), "--at", at, "--topology", str(topo)])
    assert res.exit_code == 0, res.output
    first = next(line for line in res.output.splitlines() if line.strip().startswith("│ 1"))
    assert root in first
    res = runner.invoke(
        app, ["rank", "--metrics", str(metrics), "--at", at, "--topology", str(topo), "--top-k", "2", "--json"]
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert len(out) == 2 and out[0]["component"] == root
    assert 0 <= out[0]["confidence"] <= 1 and out[0]["evidence"]


def test_rank_reads_rcaeval_wide_csv_and_a_baseline(tmp_path: Path) -> None:
    case = load_case(CASE)
    wide = tmp_path / "wide.csv"
    to_wide(case.metrics).to_csv(wide, index=False)
    at = case.incident_time.strftime("%Y-%m-%dT%H:%M:%SZ")
    # the drift's callers step one sample before its own onset: the topology tells them apart
    _, topo, _, _ = write_case(tmp_path)
    res = runner.invoke(app, ["rank", "--metrics", str(wide), "--at", at, "--topology", str(topo), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)[0]["component"] == case.root
    cut = case.metrics[case.metrics["timestamp"] < case.incident_time - pd.Timedelta(hours=1)]
    base = tmp_path / "base.csv"
    cut.to_csv(base, index=False)
    res = runner.invoke(app, ["rank", "--metrics", str(wide), "--at", at, "--baseline", str(base), "--json"])
    assert res.exit_code == 0, res.output
    assert case.root in [c["component"] for c in json.loads(res.output)[:3]]


def one_line_error(res: object) -> str:
    """Return the error line of a failed invocation (exit 2)."""
    assert res.exit_code == 2, res.output  # type: ignore[attr-defined]
    lines = [ln for ln in res.output.splitlines() if ln.strip()]  # type: ignore[attr-defined]
    assert len(lines) == 1, lines
    return lines[0]


def test_bad_csvs_name_file_line_and_field(tmp_path: Path) -> None:
    good = tmp_path / "m.csv"
    rows = [f"2026-03-02T06:{i:02d}:00Z,db,cpu,{50 + np.sin(i):.3f}" for i in range(30)]
    good.write_text("timestamp,component,metric,value\n" + "\n".join(rows) + "\n")
    at = ["--at", "2026-03-02T06:20:00Z"]

    bad_value = tmp_path / "bad_value.csv"
    bad_value.write_text(good.read_text().replace("06:05:00Z,db,cpu,", "06:05:00Z,db,cpu,abc", 1))
    line = one_line_error(runner.invoke(app, ["rank", "--metrics", str(bad_value), *at]))
    assert "bad_value.csv" in line and "line 7" in line and "'value'" in line

    bad_time = tmp_path / "bad_time.csv"
    bad_time.write_text(good.read_text().replace("2026-03-02T06:03:00Z", "yesterday", 1))
    line = one_line_error(runner.invoke(app, ["rank", "--metrics", str(bad_time), *at]))
    assert "bad_time.csv" in line and "line 5" in line and "'timestamp'" in line

    no_cols = tmp_path / "no_cols.csv"
    no_cols.write_text("when,what\n1,2\n")
    line = one_line_error(runner.invoke(app, ["rank", "--metrics", str(no_cols), *at]))
    assert "no_cols.csv" in line and "line 1" in line and "timestamp" in line

    topo = tmp_path / "topo.csv"
    topo.write_text("source,target\napi,db\n,db\n")
    line = one_line_error(runner.invoke(app, ["rank", "--metrics", str(good), *at, "--topology", str(topo)]))
    assert "topo.csv" in line and "line 3" in line and "'source'" in line
    topo.write_text("from,to\napi,db\n")
    line = one_line_error(runner.invoke(app, ["rank", "--metrics", str(good), *at, "--topology", str(topo)]))
    assert "topo.csv" in line and "source" in line

    line = one_line_error(runner.invoke(app, ["rank", "--metrics", str(tmp_path / "nope.csv"), *at]))
    assert "nope.csv" in line and "not found" in line
    line = one_line_error(runner.invoke(app, ["rank", "--metrics", str(good), "--at", "2026-03-09T00:00:00Z"]))
    assert "after the last sample" in line
    line = one_line_error(runner.invoke(app, ["rank", "--metrics", str(good), "--at", "noon"]))
    assert "--at" in line


def test_unknown_topology_components_are_noted_not_fatal(tmp_path: Path) -> None:
    metrics, _, at, root = write_case(tmp_path)
    topo = tmp_path / "t.csv"
    topo.write_text("source,target\nghost,svc00\n")
    res = runner.invoke(app, ["rank", "--metrics", str(metrics), "--at", at, "--topology", str(topo)])
    assert res.exit_code == 0, res.output
    assert "ghost" in res.output and root in res.output


def test_rank_refuses_what_score_refuses_and_a_time_before_the_data(tmp_path: Path) -> None:
    rows = [f"2026-03-02T06:{i:02d}:00Z,db,cpu,{50 + np.sin(i):.3f}" for i in range(30)]
    good = tmp_path / "m.csv"
    good.write_text("timestamp,component,metric,value\n" + "\n".join(rows) + "\n")
    at = ["--at", "2026-03-02T06:20:00Z"]
    naive = tmp_path / "naive.csv"
    naive.write_text(good.read_text().replace("06:04:00Z", "06:04:00"))
    line = one_line_error(runner.invoke(app, ["rank", "--metrics", str(naive), *at]))
    assert "naive.csv" in line and "line 6" in line and "zone" in line
    dup = tmp_path / "dup.csv"
    dup.write_text(good.read_text() + rows[3] + "\n")
    line = one_line_error(runner.invoke(app, ["rank", "--metrics", str(dup), *at]))
    assert "dup.csv" in line and "line 32" in line and "repeats line 5" in line
    line = one_line_error(runner.invoke(app, ["rank", "--metrics", str(good), "--at", "2026-03-01T00:00:00Z"]))
    assert "--at" in line and "first sample" in line
    line = one_line_error(runner.invoke(app, ["rank", "--metrics", str(good), "--at", "2026-03-02T06:00:00Z"]))
    assert "first sample" in line
