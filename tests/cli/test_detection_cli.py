"""``rcaflows score``, ``rcaflows backtest`` and ``rcaflows silence add|list|expire``."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console
from typer.testing import CliRunner

from rcaflows import cli
from rcaflows.cli import app
from rcaflows.demo import DEMO_END, write_demo_config
from rcaflows.detection import score_series

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Render tables wide and capture the error console too (CliRunner is not a terminal)."""
    monkeypatch.setattr(cli._common, "console", Console(width=220, soft_wrap=True))
    monkeypatch.setattr(cli._common, "err", Console(width=220, soft_wrap=True, stderr=True))


def _series_csv(path: Path, n: int = 600) -> pd.Series:
    idx = pd.date_range("2026-01-01T00:00:00Z", periods=n, freq="min")
    v = 50 + np.random.default_rng(3).normal(0, 1, n)
    v[-20:] += 15  # a shift at the end scores high
    path.write_text("timestamp,value\n" + "".join(f"{t.isoformat()},{x:.6f}\n" for t, x in zip(idx, v, strict=True)))
    return pd.Series(np.round(v, 6), index=idx)


def test_score_writes_every_point_with_the_score_series_scores(tmp_path: Path) -> None:
    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    series = _series_csv(src)
    res = runner.invoke(app, ["score", "--input", str(src), "--output", str(dst)])
    assert res.exit_code == 0, res.output
    out = pd.read_csv(dst)
    assert list(out.columns) == ["timestamp", "value", "score"] and len(out) == len(series)
    expected = score_series(series).to_numpy()
    np.testing.assert_allclose(out["score"].to_numpy(), expected, rtol=1e-5, atol=1e-6)
    assert pd.to_datetime(out["timestamp"], utc=True).equals(pd.Series(series.index, name="timestamp"))
    # the shift pages at its first point, then the score adapts (one alarm, not twenty)
    assert out["score"].iloc[-20] > 0.9 and out["score"].iloc[100:500].median() < 0.2
    assert "scored 600 of 600 points" in res.output


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ("timestamp,value\n2026-01-01T00:00:00,1\n", ":2: timestamp: '2026-01-01T00:00:00' has no time zone"),
        (
            "timestamp,value\n2026-01-01T00:01:00Z,1\n2026-01-01T00:00:00Z,2\n",
            ":3: timestamp: 2026-01-01T00:00:00Z is before the previous line's",
        ),
        ("timestamp,value\n2026-01-01T00:00:00Z,1\n2026-01-01T00:01:00Z,abc\n", ":3: value: 'abc' is not a number"),
        (
            "timestamp,value\n2026-01-01T00:00:00Z,1\n2026-01-01T00:00:00+00:00,2\n",
            ":3: timestamp: 2026-01-01T00:00:00+00:00 repeats line 2",
        ),
        ("time,value\n2026-01-01T00:00:00Z,1\n", ":1: header: missing column(s) timestamp"),
        ("timestamp,value\nyesterday+01:00,1\n", ":2: timestamp: cannot parse 'yesterday+01:00'"),
    ],
)
def test_bad_csv_gives_one_line_naming_file_line_and_field(tmp_path: Path, body: str, where: str) -> None:
    src = tmp_path / "bad.csv"
    src.write_text(body)
    res = runner.invoke(app, ["score", "--input", str(src), "--output", str(tmp_path / "o.csv")])
    assert res.exit_code == 2
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: {src}{where}"), res.output
    assert not (tmp_path / "o.csv").exists()


def test_score_reports_a_missing_file(tmp_path: Path) -> None:
    res = runner.invoke(app, ["score", "-i", str(tmp_path / "nope.csv"), "-o", str(tmp_path / "o.csv")])
    assert res.exit_code == 2 and "nope.csv: no such file" in res.output


def test_silence_add_list_expire_round_trip(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    add = runner.invoke(
        app,
        ["silence", "add", "--store", url, "--type", "data_quality", "--component", "etl", "--for", "2h",
         "--reason", "etl migration", "--author", "user:ana"],
    )  # fmt: skip
    assert add.exit_code == 0, add.output
    assert "silence 1 added" in add.output and "by user:ana" in add.output
    listed = runner.invoke(app, ["silence", "list", "--store", url, "--json"])
    assert listed.exit_code == 0, listed.output
    doc = json.loads(listed.output[: listed.output.rindex("]") + 1])
    assert [(d["id"], d["incident_type"], d["component"], d["active"]) for d in doc] == [
        (1, "data_quality", "etl", True)
    ]
    assert "warning: silence 1 has matched nothing" in listed.output
    exp = runner.invoke(app, ["silence", "expire", "1", "--store", url, "--author", "user:bo"])
    assert exp.exit_code == 0 and "silence 1 expired" in exp.output
    assert json.loads(runner.invoke(app, ["silence", "list", "--store", url, "--json"]).output) == []
    gone = runner.invoke(app, ["silence", "list", "--store", url, "--json", "--all"])
    (row,) = json.loads(gone.output)
    assert row["expired_by"] == "user:bo" and row["active"] is False
    again = runner.invoke(app, ["silence", "expire", "1", "--store", url])
    assert again.exit_code == 2 and "already ended" in again.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--reason", "r", "--for", "2h"], "no matcher"),
        (["--reason", "r", "--component", "etl"], "no expiry"),
        (["--reason", "r", "--component", "etl", "--for", "soon"], "--for: expected a duration"),
        (["--reason", "r", "--type", "nope", "--for", "1h"], "incident_type 'nope' is unknown"),
        (["--reason", "r", "--component", "etl", "--until", "2026-01-01T00:00:00"], "--until: timestamp"),
    ],
)
def test_silence_add_refuses_bad_input(tmp_path: Path, args: list[str], message: str) -> None:
    res = runner.invoke(app, ["silence", "add", "--store", f"sqlite:///{tmp_path / 's.db'}", *args])
    assert res.exit_code == 2 and message in res.output, res.output


def test_backtest_json_counts_one_incident_for_the_fault_without_touching_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the demo config's store is a relative SQLite path
    config = write_demo_config("schema_change_nulls", tmp_path.parent / f"{tmp_path.name}-configs")
    t2 = DEMO_END
    t1 = t2 - timedelta(hours=1)
    res = runner.invoke(
        app,
        ["backtest", "--config", str(config), "--from", t1.isoformat(), "--to", t2.isoformat(), "--json"],
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    (hour,) = doc["hours"]
    assert hour["at"].startswith("2026-03-02T12:00:00") and hour["failed_checks"] > 0
    # one fault, one incident: the model-quality and security signals downstream of the schema change
    # are related signals of the data-quality incident, not incidents (nor inhibited candidates) of their own
    assert doc["totals"]["opened"] == {"data_quality": 1}
    assert doc["totals"]["inhibition"] == {}
    assert list(tmp_path.iterdir()) == []  # no store file was created


def test_backtest_refuses_a_reversed_or_naive_span() -> None:
    rev = runner.invoke(app, ["backtest", "--from", "2026-03-02T12:00:00Z", "--to", "2026-03-02T10:00:00Z"])
    assert rev.exit_code == 2 and "is not after --from" in rev.output
    naive = runner.invoke(app, ["backtest", "--from", "2026-03-02T10:00:00", "--to", "2026-03-02T12:00:00Z"])
    assert naive.exit_code == 2 and "--from: timestamp" in naive.output
