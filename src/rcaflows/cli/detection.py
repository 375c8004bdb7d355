"""``rcaflows score`` (anomaly-score a CSV series) and ``rcaflows backtest`` (replay hourly detection)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from rcaflows.cli import _common
from rcaflows.cli._common import ConfigOpt, app, cell, cells, fail, parse_time
from rcaflows.errors import DataError, RcaflowsError

if TYPE_CHECKING:
    import pandas as pd

_TZ_SUFFIX = r"(?:Z|[+-]\d{2}:?\d{2})$"


def read_series_csv(path: Path) -> pd.Series:
    """Read a ``timestamp,value`` CSV into a series indexed by UTC time.

    Raises:
        DataError: naming the file, line and field: unreadable file, missing column, a timestamp
            without a time zone or unparseable, non-numeric value, unsorted or duplicate times.
    """
    import numpy as np
    import pandas as pd

    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{path}: cannot read as CSV: {str(exc).splitlines()[0]}") from None
    missing = [c for c in ("timestamp", "value") if c not in frame.columns]
    if missing:
        raise DataError(f"{path}:1: header: missing column(s) {', '.join(missing)}; expected 'timestamp,value'")
    raw_ts = frame["timestamp"].str.strip()
    line = np.arange(len(frame)) + 2  # header is line 1
    no_tz = ~raw_ts.str.contains(_TZ_SUFFIX, regex=True)
    if no_tz.any():
        i = int(np.flatnonzero(no_tz.to_numpy())[0])
        raise DataError(
            f"{path}:{line[i]}: timestamp: {raw_ts.iloc[i]!r} has no time zone; "
            "give it as UTC, e.g. 2026-01-01T12:00:00Z"
        )
    ts = pd.to_datetime(raw_ts, format="ISO8601", utc=True, errors="coerce")
    if ts.isna().any():
        i = int(np.flatnonzero(ts.isna().to_numpy())[0])
        raise DataError(f"{path}:{line[i]}: timestamp: cannot parse {raw_ts.iloc[i]!r} as an ISO 8601 time")
    raw_v = frame["value"].str.strip()
    values = pd.to_numeric(raw_v.replace({"": "nan"}), errors="coerce")
    bad = values.isna() & ~raw_v.str.lower().isin(["", "nan", "na", "null"])
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(f"{path}:{line[i]}: value: {raw_v.iloc[i]!r} is not a number")
    ns = ts.to_numpy(dtype="datetime64[ns]").astype(np.int64)
    step = np.diff(ns)
    if (step < 0).any():
        i = int(np.flatnonzero(step < 0)[0]) + 1
        raise DataError(
            f"{path}:{line[i]}: timestamp: {raw_ts.iloc[i]} is before the previous line's "
            f"{raw_ts.iloc[i - 1]}; sort the file by time"
        )
    if (step == 0).any():
        i = int(np.flatnonzero(step == 0)[0]) + 1
        raise DataError(f"{path}:{line[i]}: timestamp: {raw_ts.iloc[i]} repeats line {line[i - 1]}; aggregate first")
    return pd.Series(values.to_numpy(dtype=float), index=pd.DatetimeIndex(ts), name="value")


@app.command()
def score(
    input: Annotated[Path, typer.Option("--input", "-i", help="CSV with columns timestamp,value (times with zone).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="CSV to write: timestamp,value,score.")],
    period: Annotated[
        str | None, typer.Option(help="Seasonal period, e.g. 1D, 7D; 'none' disables the seasonal term.")
    ] = "1D",
) -> None:
    """Score every point of a time series in [0, 1] with score_series (causal; near 1 is page-worthy)."""
    import pandas as pd

    from rcaflows.detection import score_series

    try:
        series = read_series_csv(input)
        p = None if period is None or period.lower() == "none" else period
        try:
            pd.Timedelta(p) if p is not None else None
        except ValueError:
            raise DataError(f"--period: {period!r} is not a duration such as 1D or 12h") from None
        scores = score_series(series, period=p)
    except RcaflowsError as exc:
        fail(exc)
    out = pd.DataFrame(
        {
            "timestamp": series.index.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "value": series.to_numpy(),
            "score": scores.to_numpy(),
        }
    )
    try:
        out.to_csv(output, index=False, float_format="%.6g")
    except OSError as exc:
        fail(DataError(f"{output}: cannot write: {exc}"))
    n = int(scores.notna().sum())
    high = int((scores >= 0.5).sum())
    _common.console.print(
        f"scored {n} of {len(series)} points ({high} at or above 0.5) -> {output}", highlight=False, markup=False
    )


@app.command()
def backtest(
    start: Annotated[str, typer.Option("--from", help="Replay from (ISO 8601 with zone; exclusive, hourly).")],
    end: Annotated[str, typer.Option("--to", help="Replay until (ISO 8601 with zone; inclusive, hourly).")],
    config: ConfigOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Replay hourly detection over history (no Prefect, scratch in-memory store) and count what would open."""
    from rcaflows.backtest import ACTIONS
    from rcaflows.backtest import backtest as run_backtest
    from rcaflows.config import load_config

    try:
        t1, t2 = parse_time(start, "--from"), parse_time(end, "--to")
        assert t1 is not None and t2 is not None
        cfg = load_config(config)
        result = run_backtest(cfg, t1, t2)
    except RcaflowsError as exc:
        fail(exc)
    totals = result.totals()
    if as_json:
        doc = {
            "system": result.system,
            "from": result.start.isoformat(),
            "to": result.end.isoformat(),
            "hours": [h.model_dump(mode="json") for h in result.hours],
            "totals": totals,
        }
        _common.console.print_json(json.dumps(doc))
        return

    def counts(per_type: dict[str, int]) -> str:
        return ", ".join(f"{t} {n}" for t, n in per_type.items()) or "-"

    table = Table(title=cell(f"backtest of {result.system}: {len(result.hours)} hourly runs"))
    table.add_column("hour end")
    table.add_column("failed checks")
    for a in ACTIONS:
        table.add_column(a)
    table.add_column("error")
    for h in result.hours:
        table.add_row(
            *cells(h.at.isoformat(), h.failed_checks, *(counts(h.counts.get(a, {})) for a in ACTIONS), h.error or "")
        )
    table.add_row(
        *cells("total", sum(h.failed_checks for h in result.hours), *(counts(totals[a]) for a in ACTIONS), "")
    )
    _common.console.print(table)
    summary = ", ".join(f"{a} {sum(totals[a].values())}" for a in ACTIONS)
    _common.console.print(f"would have: {summary}", highlight=False, markup=False)
