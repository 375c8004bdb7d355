"""Replay detection hour by hour over history, against a throw-away store, to tune before paging.

:func:`backtest` runs, for every hour end in ``(start, end]``, exactly what the hourly flow runs
(:func:`rcaflows.pipeline.detect_and_open`: load the window from the configured sources, the
detectors with FDR control, grouping, then silences, inhibition, dedup and the pending rule)
with no Prefect and an in-memory SQLite store:
nothing touches the real incident store. It counts what would have opened, been deduplicated or
been held back (per reason), per incident type, per hour and in total.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import pandas as pd
from pydantic import BaseModel, Field

from rcaflows.config.models import SystemConfig
from rcaflows.errors import ConfigError, EmptyWindowError, RcaflowsError
from rcaflows.incidents import Store
from rcaflows.pipeline import detect_and_open
from rcaflows.timeutil import utc

#: Outcomes counted per incident type.
ACTIONS = ("opened", "deduplicated", "silence", "inhibition", "pending")
#: Longest replay accepted (one detection run per hour).
MAX_HOURS = 24 * 90


class BacktestHour(BaseModel):
    """What one replayed hourly run would have done."""

    at: datetime = Field(description="End of the run's current window.")
    checks: int = Field(0, description="Checks run.")
    failed_checks: int = Field(0, description="Checks that failed after FDR control.")
    counts: dict[str, dict[str, int]] = Field(
        default_factory=dict, description="Per action (opened, deduplicated, silence, inhibition, pending), per type."
    )
    error: str | None = Field(None, description="Why the hour could not be replayed (no data, a source error).")


class BacktestResult(BaseModel):
    """A replay's hours and totals."""

    system: str
    start: datetime
    end: datetime
    hours: list[BacktestHour] = Field(default_factory=list)

    def totals(self) -> dict[str, dict[str, int]]:
        """Return, per action, the count per incident type over every hour."""
        out: dict[str, Counter[str]] = {a: Counter() for a in ACTIONS}
        for h in self.hours:
            for action, per_type in h.counts.items():
                out[action].update(per_type)
        return {a: dict(sorted(c.items())) for a, c in out.items()}


def hour_ends(start: datetime, end: datetime) -> list[datetime]:
    """Return the hour ends of the replay: every full hour in ``(start, end]``.

    Raises:
        ConfigError: If a bound has no time zone, ``end`` is not after ``start`` or the span is too long.
    """
    try:
        t1, t2 = utc(start), utc(end)
    except ValueError as exc:
        raise ConfigError(f"backtest: {exc}") from None
    if t2 <= t1:
        raise ConfigError(f"backtest: --to {t2.isoformat()} is not after --from {t1.isoformat()}")
    first = pd.Timestamp(t1).floor("h") + pd.Timedelta(hours=1)
    hours = list(pd.date_range(first, pd.Timestamp(t2).floor("h"), freq="h"))
    if len(hours) > MAX_HOURS:
        raise ConfigError(f"backtest: {len(hours)} hours requested; replay at most {MAX_HOURS} at once")
    return [h.to_pydatetime() for h in hours]


def backtest(config: SystemConfig, start: datetime, end: datetime, *, store_url: str = "sqlite://") -> BacktestResult:
    """Replay hourly detection for every hour end in ``(start, end]``.

    Args:
        config: the monitored system.
        start: replay from (exclusive, floored to the hour).
        end: replay until (inclusive, floored to the hour).
        store_url: the scratch store; the default in-memory SQLite vanishes afterwards.
    """
    hours = hour_ends(start, end)
    store = Store(store_url)
    result = BacktestResult(system=config.system.name, start=utc(start), end=utc(end))
    try:
        for at in hours:
            result.hours.append(_replay_hour(config, store, at))
    finally:
        store.dispose()
    return result


def _replay_hour(config: SystemConfig, store: Store, at: datetime) -> BacktestHour:
    try:
        run = detect_and_open(store, config, at, actor="backtest", origin={"backtest": True})
    except EmptyWindowError:
        return BacktestHour(at=at, error="no data from any source")
    except RcaflowsError as exc:
        return BacktestHour(at=at, error=str(exc))
    counts: dict[str, Counter[str]] = {a: Counter() for a in ACTIONS}
    for o in run.outcome.incidents:
        counts[o.action][o.type] += 1
    for c in run.outcome.suppressed:
        counts[c.reason][c.type] += 1
    return BacktestHour(
        at=at,
        checks=len(run.report.checks),
        failed_checks=len(run.report.failed),
        counts={a: dict(sorted(c.items())) for a, c in counts.items() if c},
        error="; ".join(run.report.errors) or None,
    )
