"""``rcaflows metrics``: MTTD, MTTA, MTTM, MTTR, counts, recurrence, escalations, overdue actions, false positives."""

from __future__ import annotations

import csv
import io
import json
from typing import Annotated

import typer
from rich.table import Table

from rcaflows.cli import _common
from rcaflows.cli._common import ConfigOpt, StoreOpt, app, cells, fail, open_store, parse_span, parse_time
from rcaflows.errors import RcaflowsError


def _fmt_seconds(v: float | None) -> str:
    from datetime import timedelta

    from rcaflows.timeutil import human_duration

    return human_duration(None if v is None else timedelta(seconds=v), none="-")


@app.command()
def metrics(
    since: Annotated[str, typer.Option("--since", help="Period length back from --until, e.g. 30d, 12h.")] = "30d",
    until: Annotated[str | None, typer.Option("--until", help="End of the period (UTC; default now).")] = None,
    system: Annotated[str | None, typer.Option("--system", help="Only this system.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Report MTTD, MTTA, MTTM, MTTR, counts by type/severity/team, recurrence, escalations, overdue actions, FP rates.

    With --config, late detections are counted against its ``learning.ttd_target`` (default 1h).
    Definitions: docs/incidents.md (response metrics).
    """
    from rcaflows.incidents.metrics import response_metrics
    from rcaflows.timeutil import now_utc

    if fmt not in ("table", "csv", "json"):
        fail(RcaflowsError(f"--format: expected table, csv or json, got {fmt!r}"))
    try:
        span = parse_span(since, "--since")
        assert span is not None
        end = parse_time(until, "--until") or now_utc()
        try:
            start = end - span
        except OverflowError:
            raise RcaflowsError(f"--since: {since!r} before --until is before the year 1") from None
        target = None
        if config is not None:
            from rcaflows.config import load_config

            target = load_config(config).learning.ttd_target
        with open_store(config, store).session(readonly=True) as s:
            m = response_metrics(s, start, end, system=system, ttd_target=target)
    except RcaflowsError as exc:
        fail(exc)
    if fmt == "json":
        _common.console.print_json(json.dumps(m.as_dict()))
        return
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=["metric", "group", "value"], lineterminator="\n")
        w.writeheader()
        w.writerows({**r, "value": "" if r["value"] is None else r["value"]} for r in m.rows())
        typer.echo(buf.getvalue(), nl=False)
        return
    t = Table(title=f"response metrics {m.since:%Y-%m-%d %H:%M} .. {m.until:%Y-%m-%d %H:%M} UTC")
    t.add_column("metric")
    t.add_column("value", justify="right")
    t.add_row("incidents", str(m.incidents))  # the group names below come from the store: plain text
    t.add_row(
        "MTTD (mean / median)",
        f"{_fmt_seconds(m.mttd_s)} / {_fmt_seconds(m.median_ttd_s)} ({m.detected_with_onset} with an onset; "
        f"{m.late_detections} later than {_fmt_seconds(m.ttd_target_s)})",
    )
    t.add_row(
        "MTTA (mean / median)", f"{_fmt_seconds(m.mtta_s)} / {_fmt_seconds(m.median_tta_s)} ({m.acknowledged} acked)"
    )
    t.add_row(
        "MTTR (mean / median)", f"{_fmt_seconds(m.mttr_s)} / {_fmt_seconds(m.median_ttr_s)} ({m.resolved} resolved)"
    )
    t.add_row("MTTM (mean)", f"{_fmt_seconds(m.mttm_s)} ({m.mitigated} mitigated)")
    t.add_row("fixes validated / regressed", f"{m.fixes_validated} / {m.fixes_regressed}")
    rate = "-" if m.recurrence_rate is None else f"{m.recurrence_rate:.0%} ({m.recurring})"
    t.add_row("recurrence rate", rate)
    t.add_row("escalations", f"{m.escalations} on {m.incidents_escalated} incidents")
    t.add_row("action items overdue / open", f"{m.action_items_overdue} / {m.action_items_open}")
    for det, share in m.false_positive_rate_by_detector.items():
        t.add_row(*cells(f"false-positive rate: {det}", f"{share:.0%} of {m.resolved_by_detector[det]} resolved"))
    for title, counts in (
        ("by type", m.by_type),
        ("by severity", m.by_severity),
        ("by team", m.by_team),
        ("escalations by kind", m.escalations_by_kind),
    ):
        for k, v in counts.items():
            t.add_row(*cells(f"{title}: {k}", v))
    _common.console.print(t)
