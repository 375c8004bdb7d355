"""The ``changes`` source: deploys, config and infrastructure changes for the environmental phase.

Two places hold them:

* a log file (``path``): JSON lines, a JSON array, or CSV with ``timestamp, component, kind,
  description``; every row is validated and a bad one is named by file and line;
* a webhook-fed table (``url``, a SQLAlchemy URL, and ``table``): :func:`record_change` appends one
  validated event (call it from a deploy hook or an HTTP handler); the source reads the window
  back with a WHERE on the timestamp.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from rcaflows.config.models import SourceConfig, SystemConfig
from rcaflows.data import CHANGE_COLUMNS, MonitoringData, check_frame, empty_changes
from rcaflows.errors import ConfigError, DataError
from rcaflows.sources.base import register

#: kinds the environmental phase weighs (rca/phases/environmental.py KIND_PRIOR), plus "other"
CHANGE_KINDS = ("deploy", "config", "infra", "schema", "retrain", "feature_flag", "other")


def validate_change(event: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Return one change event with a UTC timestamp; raise :class:`DataError` naming ``where`` and the field."""
    out: dict[str, Any] = {}
    for col in CHANGE_COLUMNS:
        value = event.get(col)
        if value is None or (isinstance(value, float) and pd.isna(value)) or str(value).strip() == "":
            raise DataError(f"{where}: field '{col}' is required; a change event needs {', '.join(CHANGE_COLUMNS)}")
        out[col] = value
    try:
        ts = pd.Timestamp(out["timestamp"])
    except (ValueError, TypeError):
        raise DataError(f"{where}: field 'timestamp' is not an ISO timestamp: {out['timestamp']!r}") from None
    if ts.tzinfo is None:
        raise DataError(f"{where}: field 'timestamp' has no timezone ({out['timestamp']!r}); give UTC, e.g. ...Z")
    out["timestamp"] = ts.tz_convert("UTC")
    if str(out["kind"]) not in CHANGE_KINDS:
        raise DataError(f"{where}: field 'kind' is {out['kind']!r}; expected one of {', '.join(CHANGE_KINDS)}")
    return {**out, "component": str(out["component"]), "kind": str(out["kind"]), "description": str(out["description"])}


def read_change_log(path: Path) -> pd.DataFrame:
    """Read and validate a JSON-lines, JSON-array or CSV change log; sorted by time."""
    if not path.exists():
        raise DataError(f"{path}: change log not found")
    rows: list[tuple[int, Mapping[str, Any]]] = []
    if path.suffix == ".csv":
        try:
            df = pd.read_csv(path, dtype=str, keep_default_na=False)
        except (ValueError, pd.errors.ParserError) as exc:
            raise DataError(f"{path}: cannot read CSV: {exc}") from None
        rows = [(i + 2, r) for i, r in enumerate(df.to_dict("records"))]
    else:
        text = path.read_text()
        if text.lstrip().startswith("["):
            try:
                items = json.loads(text)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
            rows = [(i + 1, r) for i, r in enumerate(items)]
        else:
            for n, line in enumerate(text.splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    rows.append((n, json.loads(line)))
                except json.JSONDecodeError as exc:
                    raise DataError(f"{path}:{n}: not valid JSON: {exc.msg}") from None
    label = "line" if path.suffix != ".json" or not text.lstrip().startswith("[") else "item"
    events = []
    for n, r in rows:
        if not isinstance(r, Mapping):
            raise DataError(f"{path}: {label} {n}: expected an object with {', '.join(CHANGE_COLUMNS)}")
        events.append(validate_change(r, f"{path}: {label} {n}"))
    if not events:
        return empty_changes()
    df = pd.DataFrame(events, columns=list(CHANGE_COLUMNS)).sort_values("timestamp", kind="stable", ignore_index=True)
    return check_frame(df, CHANGE_COLUMNS, str(path))


# ------------------------------------------------------------------ webhook-fed table

_META = sa.MetaData()


@lru_cache(maxsize=16)
def _table(name: str) -> sa.Table:
    return sa.Table(
        name,
        _META,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("component", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
    )


@lru_cache(maxsize=16)
def _engine(url: str) -> sa.Engine:
    return sa.create_engine(url)


def record_change(url: str, event: Mapping[str, Any], table: str = "change_events") -> dict[str, Any]:
    """Validate one change event (e.g. a webhook body) and append it to the table; return it."""
    row = validate_change(event, f"change event {dict(event)!r}")
    t = _table(table)
    engine = _engine(url)
    t.create(engine, checkfirst=True)
    with engine.begin() as con:
        # stored as naive UTC: SQLite drops the offset, and every reader converts back to UTC
        con.execute(t.insert().values({**row, "timestamp": row["timestamp"].tz_localize(None).to_pydatetime()}))
    return row


@dataclass
class ChangesSource:
    """Read change events from a log file or a webhook-fed table."""

    name: str
    path: Path | None = None
    url: str | None = None
    table: str = "change_events"

    def load(self, start: datetime, end: datetime) -> MonitoringData:
        """Return the change events in ``[start, end)``."""
        if self.path is not None:
            return MonitoringData(start=start, end=end, changes=read_change_log(self.path)).slice(start, end)
        t = _table(self.table)
        lo = pd.Timestamp(start).tz_convert("UTC").tz_localize(None).to_pydatetime()
        hi = pd.Timestamp(end).tz_convert("UTC").tz_localize(None).to_pydatetime()
        query = (
            sa.select(t.c.timestamp, t.c.component, t.c.kind, t.c.description)
            .where(t.c.timestamp >= lo, t.c.timestamp < hi)
            .order_by(t.c.timestamp, t.c.id)
        )
        try:
            with _engine(str(self.url)).connect() as con:
                rows = con.execute(query).all()
        except sa.exc.SQLAlchemyError as exc:
            raise DataError(f"{self.name}: cannot read table {self.table!r}: {str(exc).splitlines()[0]}") from None
        if not rows:
            return MonitoringData(start=start, end=end)
        df = pd.DataFrame([tuple(r) for r in rows], columns=list(CHANGE_COLUMNS))
        ts = pd.to_datetime(df["timestamp"])
        df["timestamp"] = ts.dt.tz_localize("UTC") if ts.dt.tz is None else ts.dt.tz_convert("UTC")
        return MonitoringData(start=start, end=end, changes=check_frame(df, CHANGE_COLUMNS, self.table))


@register("changes")
def _changes(spec: SourceConfig, config: SystemConfig) -> ChangesSource:
    where = f"sources[{spec.name}].options"
    opts = dict(spec.options)
    unknown = set(opts) - {"path", "url", "table"}
    if unknown:
        raise ConfigError(f"{where}: unknown option(s) {sorted(unknown)}; expected path, or url and table")
    if (opts.get("path") is None) == (opts.get("url") is None):
        raise ConfigError(f"{where}: give exactly one of 'path' (a change log) or 'url' (SQLAlchemy URL of a table)")
    if opts.get("path") is not None:
        return ChangesSource(name=spec.name, path=Path(str(opts["path"])))
    return ChangesSource(name=spec.name, url=str(opts["url"]), table=str(opts.get("table", "change_events")))
