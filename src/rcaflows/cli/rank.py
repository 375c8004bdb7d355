"""``rcaflows rank``: rank likely root causes of an incident from metric CSV files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import networkx as nx
import numpy as np
import pandas as pd
import typer
from rich.table import Table

from rcaflows.cli import _common
from rcaflows.cli._common import app, cells, fail, parse_time
from rcaflows.errors import DataError, RcaflowsError

LONG = ("timestamp", "component", "metric", "value")


def _read_csv(path: Path, what: str) -> pd.DataFrame:
    """Return a CSV as strings (parsing is checked field by field afterwards)."""
    if not path.exists():
        raise DataError(f"{path}: {what} file not found")
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{path}: cannot read {what} CSV: {str(exc).strip().splitlines()[0]}") from None


def _bad_row(path: Path, mask: np.ndarray, field: str, values: pd.Series, expected: str) -> DataError:
    """Return an error naming the file, line (header is line 1) and field of the first bad row."""
    i = int(np.flatnonzero(mask)[0])
    return DataError(
        f"{path}: line {i + 2}: field {field!r}: {values.iloc[i]!r} is not {expected} "
        f"({int(mask.sum())} bad row(s) in all)"
    )


_TZ_SUFFIX = r"(?:Z|[+-]\d{2}:?\d{2})$"


def _times(path: Path, col: pd.Series, field: str) -> pd.Series:
    """Parse a time column: ISO 8601 with a zone, or unix seconds/milliseconds (UTC by definition).

    A zone-less time is refused, as ``rcaflows score`` and the ``files`` source refuse it: guessing
    UTC for local times would shift the incident against its data.
    """
    text = col.str.strip()
    num = pd.to_numeric(text, errors="coerce")
    if len(text) and num.notna().all():
        arr = num.to_numpy(dtype=float)
        out_of_range = ~np.isfinite(arr) | (np.abs(arr) > 1e14)  # beyond year 5000 in ms: not a unix time
        if out_of_range.any():
            raise _bad_row(path, out_of_range, field, col, "a unix time in seconds or milliseconds")
        unit = "ms" if float(np.abs(arr).max()) > 1e11 else "s"
        return pd.Series(pd.to_datetime(num.astype(float), unit=unit, utc=True), index=col.index)
    parsed = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
    bad = parsed.isna().to_numpy()
    if bad.any():
        raise _bad_row(path, bad, field, col, "a time (ISO 8601 like 2026-03-02T06:00:00Z, or unix seconds)")
    no_zone = ~text.str.contains(_TZ_SUFFIX, regex=True).to_numpy()
    if no_zone.any():
        raise _bad_row(path, no_zone, field, col, "a time with a zone (add Z for UTC, e.g. 2026-03-02T06:00:00Z)")
    return parsed


def _no_repeats(path: Path, frame: pd.DataFrame, keys: list[str]) -> None:
    """Refuse a second row for the same series and time (as ``rcaflows score`` does): aggregate first."""
    dup = frame.duplicated(subset=keys, keep="first").to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        first = int(np.flatnonzero((frame[keys] == frame[keys].iloc[i]).all(axis=1).to_numpy())[0])
        series = ", ".join(f"{k}={frame[k].iloc[i]}" for k in keys)
        raise DataError(
            f"{path}: line {i + 2}: ({series}) repeats line {first + 2} ({int(dup.sum())} repeated row(s) in all); "
            "aggregate first: one value per series and time"
        )


def read_metrics(path: Path) -> pd.DataFrame:
    """Read long (timestamp, component, metric, value) or wide (time, <component>_<metric>…) metrics CSV.

    Raises:
        DataError: naming the file, line and field of the first bad value.
    """
    raw = _read_csv(path, "metrics")
    cols = [str(c).strip() for c in raw.columns]
    raw.columns = pd.Index(cols)
    if set(LONG) <= set(cols):
        ts = _times(path, raw["timestamp"], "timestamp")
        for field in ("component", "metric"):
            empty = (raw[field].str.strip() == "").to_numpy()
            if empty.any():
                raise _bad_row(path, empty, field, raw[field], "a name (empty)")
        text = raw["value"].str.strip()
        value = pd.to_numeric(text, errors="coerce")
        bad = (value.isna() & ~text.str.lower().isin(["", "nan", "null", "none", "na"])).to_numpy()
        if bad.any():
            raise _bad_row(path, bad, "value", raw["value"], "a number")
        frame = pd.DataFrame(
            {
                "timestamp": ts,
                "component": raw["component"].str.strip(),
                "metric": raw["metric"].str.strip(),
                "value": value.astype(float),
            }
        )
        _no_repeats(path, frame, ["component", "metric", "timestamp"])
        return frame
    if "time" in cols:
        from rcaflows.rca.evaluation import from_wide

        ts = _times(path, raw["time"], "time")
        wide = pd.DataFrame({"time": ts})
        _no_repeats(path, wide, ["time"])
        for c in cols:
            if c == "time":
                continue
            text = raw[c].str.strip()
            value = pd.to_numeric(text, errors="coerce")
            bad = (value.isna() & ~text.str.lower().isin(["", "nan", "null", "none", "na"])).to_numpy()
            if bad.any():
                raise _bad_row(path, bad, c, raw[c], "a number")
            wide[c] = value.astype(float)
        return from_wide(wide)
    raise DataError(
        f"{path}: line 1: expected columns {', '.join(LONG)} (long format) or 'time' plus "
        f"<component>_<metric> columns (wide format); found {', '.join(cols) or 'none'}"
    )


def read_topology(path: Path) -> nx.DiGraph:
    """Read a topology CSV with columns source,target (source calls or depends on target)."""
    raw = _read_csv(path, "topology")
    raw.columns = pd.Index([str(c).strip() for c in raw.columns])
    missing = [c for c in ("source", "target") if c not in raw.columns]
    if missing:
        raise DataError(f"{path}: line 1: missing column(s) {', '.join(missing)}; expected columns source,target")
    for field in ("source", "target"):
        empty = (raw[field].str.strip() == "").to_numpy()
        if empty.any():
            raise _bad_row(path, empty, field, raw[field], "a component name (empty)")
    g = nx.DiGraph()
    g.add_edges_from(zip(raw["source"].str.strip(), raw["target"].str.strip(), strict=True))
    return g


@app.command()
def rank(
    metrics: Annotated[
        Path,
        typer.Option(
            "--metrics",
            help="Metrics CSV: long (timestamp,component,metric,value) or wide (time,<component>_<metric>…).",
        ),
    ],
    at: Annotated[
        str,
        typer.Option(
            "--at", help="Incident start or detection time, ISO 8601 with a zone (e.g. 2026-03-02T06:00:00Z)."
        ),
    ],
    baseline: Annotated[Path | None, typer.Option("--baseline", help="Known-normal metrics CSV, same format.")] = None,
    topology: Annotated[
        Path | None, typer.Option("--topology", help="Topology CSV source,target: source calls/depends on target.")
    ] = None,
    top_k: Annotated[int, typer.Option("--top-k", min=1, help="How many causes to show.")] = 5,
    json_out: Annotated[bool, typer.Option("--json", help="Print the causes as JSON.")] = False,
) -> None:
    """Rank the likely root causes of an incident from metric CSV files."""
    from rcaflows.rca import rank_root_causes

    try:
        t_inc = parse_time(at, "--at")
        cur = read_metrics(metrics)
        base = read_metrics(baseline) if baseline is not None else None
        topo = read_topology(topology) if topology is not None else None
        assert t_inc is not None
        starts = [f["timestamp"].min() for f in (cur, base) if f is not None and len(f)]
        if not starts:
            raise DataError(f"{metrics}: no samples; expected rows of timestamp, component, metric, value")
        first = min(starts)
        if t_inc <= first:
            raise DataError(
                f"--at: {t_inc.isoformat()} is not after the first sample ({first}); the ranking compares the "
                "incident with the data before it: give a later --at, or earlier data with --baseline"
            )
        ranked = rank_root_causes(cur, t_inc, baseline=base, topology=topo)[:top_k]
    except RcaflowsError as exc:
        fail(exc)
        return
    unknown = sorted(set(topo.nodes) - set(cur["component"].unique())) if topo is not None else []
    if json_out:
        _common.console.print_json(json.dumps([r.model_dump(mode="json") for r in ranked]))
        return
    if unknown:
        _common.err.print(
            f"note: {len(unknown)} topology component(s) have no metrics: {', '.join(unknown[:5])}", markup=False
        )
    if not ranked:
        _common.console.print("No component deviates from its baseline: nothing to rank.")
        return
    table = Table(title=f"Likely root causes of the incident at {t_inc:%Y-%m-%d %H:%M} UTC")
    for col in ("#", "component", "metric", "score", "confidence", "onset", "evidence"):
        table.add_column(col)
    for i, r in enumerate(ranked, 1):
        onset = f"{r.onset:%H:%M:%S}" if r.onset else "-"
        table.add_row(
            *cells(i, r.component, r.metric, f"{r.score:.2f}", f"{r.confidence:.2f}", onset, *r.evidence[:1] or [""])
        )
    _common.console.print(table)
