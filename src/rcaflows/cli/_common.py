"""What every ``rcaflows`` subcommand shares: the app, consoles, options and error handling.

Command modules reach the consoles as ``_common.console`` (looked up at call time) so tests can
swap in a wide console."""

from __future__ import annotations

import os
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from rcaflows.errors import ConfigError, RcaflowsError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Incident detection, triage and root-cause analysis for production AI systems.",
)
incidents_app = typer.Typer(no_args_is_help=True, help="List and inspect incidents in the store.")
app.add_typer(incidents_app, name="incidents")
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

ConfigOpt = Annotated[
    str | None, typer.Option("--config", "-c", help="System config YAML (default: $RCAFLOWS_CONFIG).")
]
ScenarioOpt = Annotated[str | None, typer.Option("--scenario", help="Demo scenario (bundled demo config only).")]
StoreOpt = Annotated[
    str | None, typer.Option("--store", help="SQLAlchemy URL of the incident store (overrides config).")
]


def prefect_env(verbose: bool = False) -> None:
    """Set quiet, robust defaults for Prefect's local ephemeral API before Prefect is imported."""
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    if not verbose:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
        os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "ERROR")


@contextmanager
def no_heartbeat() -> Any:
    """Skip the flow heartbeat for one-shot CLI runs (it costs ~1 s per sync flow run)."""
    import prefect.settings as ps
    from prefect.settings import temporary_settings

    with temporary_settings(updates={ps.PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield


def esc(value: object) -> str:
    """Return ``value`` as markup that prints verbatim: names, notes and reasons are never Rich markup."""
    return escape(str(value))


def cell(value: object) -> Text:
    """Return a table cell that shows ``value`` as plain text (a ``[/]`` in a name must not crash a table)."""
    return Text("" if value is None else str(value))


def cells(*values: object) -> list[Text]:
    """Return one plain-text cell per value."""
    return [cell(v) for v in values]


def fail(exc: Exception) -> NoReturn:
    """Print the error (and every config problem) as plain text and exit 2."""
    err.print(f"[red]error:[/red] {esc(exc)}", highlight=False)
    if isinstance(exc, ConfigError) and exc.problems != [str(exc)]:  # the summary alone names no problem
        for p in exc.problems:
            err.print(f"  {p}", highlight=False, markup=False)
    raise typer.Exit(code=2)


def open_store(config: str | None, store: str | None) -> Any:
    from rcaflows.config import load_config
    from rcaflows.incidents import Store

    url = store or load_config(config).store.url
    return Store.from_url(url)


def parse_time(value: str | None, field: str) -> datetime | None:
    """Parse an option's ISO 8601 time with a zone; raise a clear error naming the option otherwise."""
    if value is None:
        return None
    from rcaflows.timeutil import utc

    try:
        return utc(value)
    except (ValueError, TypeError, OverflowError) as exc:
        raise RcaflowsError(f"{field}: {exc}") from None


MAX_SPAN = timedelta(days=100 * 366)


def parse_span(value: str | None, field: str) -> timedelta | None:
    """Parse an option's duration (``30m``, ``7d``), positive and at most a century so times stay in range."""
    if value is None:
        return None
    from rcaflows.timeutil import parse_duration

    try:
        span = parse_duration(value)
    except (ValueError, TypeError, OverflowError) as exc:
        raise RcaflowsError(f"{field}: {exc}") from None
    if span > MAX_SPAN:
        raise RcaflowsError(f"{field}: {value!r} is longer than 100 years; give a shorter duration")
    return span
