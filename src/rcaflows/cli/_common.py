"""What every ``rcaflows`` subcommand shares: the app, consoles, options and error handling.

Command modules reach the consoles as ``_common.console`` (looked up at call time) so tests can
swap in a wide console."""

from __future__ import annotations

import os
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

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
    str | None, typer.Option("--config", "-c", help="System config YAML (default: the bundled demo).")
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


def fail(exc: Exception) -> NoReturn:
    err.print(f"[red]error:[/red] {exc}", highlight=False)
    if isinstance(exc, ConfigError) and len(exc.problems) > 1:
        for p in exc.problems:
            err.print(f"  {p}", highlight=False)
    raise typer.Exit(code=2)


def open_store(config: str | None, store: str | None) -> Any:
    from rcaflows.config import load_config
    from rcaflows.incidents import Store

    url = store or load_config(config).store.url
    return Store.from_url(url)


def parse_time(value: str | None, field: str) -> datetime | None:
    if value is None:
        return None
    from rcaflows.timeutil import utc

    try:
        return utc(value)
    except ValueError as exc:
        raise RcaflowsError(f"{field}: {exc}") from None
