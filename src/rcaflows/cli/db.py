"""``rcaflows db upgrade|current|check|backup|reap``: schema migrations (Alembic), backups, stuck RCA runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from rcaflows.cli import _common
from rcaflows.cli._common import ConfigOpt, StoreOpt, app, fail
from rcaflows.errors import RcaflowsError, StoreError

T = TypeVar("T")

db_app = typer.Typer(no_args_is_help=True, help="Migrate and inspect the incident store's schema.")
app.add_typer(db_app, name="db")


def _url(config: str | None, store: str | None) -> str:
    from rcaflows.config import load_config

    return store or load_config(config).store.url


@db_app.command("upgrade")
def db_upgrade(
    config: ConfigOpt = None,
    store: StoreOpt = None,
    revision: Annotated[str, typer.Option(help="Target revision.")] = "head",
) -> None:
    """Apply the schema migrations up to a revision (default: the newest)."""
    from rcaflows.incidents.db import mask_url
    from rcaflows.incidents.migrations import upgrade

    try:
        url = _url(config, store)
        before, after = upgrade(url, revision)
    except RcaflowsError as exc:
        fail(exc)
    _common.console.print(f"{mask_url(url)}: {before or '(empty)'} -> {after}", highlight=False, markup=False)


def _inspect(config: str | None, store: str | None, what: str, read: Callable[[Any], T]) -> tuple[str, T]:
    """Open the store's database, apply ``read`` to a connection, and return the URL and the result."""
    import sqlalchemy as sa

    from rcaflows.incidents.db import Store, mask_url

    try:
        url = _url(config, store)
        engine = Store(url).engine  # URL checked, a SQLite file's directory made
        try:
            with engine.connect() as conn:
                return url, read(conn)
        except sa.exc.SQLAlchemyError as e:
            raise StoreError(f"cannot {what} of {mask_url(url)}: {e}") from e
        finally:
            engine.dispose()
    except RcaflowsError as exc:
        fail(exc)


@db_app.command("current")
def db_current(config: ConfigOpt = None, store: StoreOpt = None) -> None:
    """Print the database's schema revision and the newest this rcaflows knows."""
    from rcaflows.incidents.db import mask_url
    from rcaflows.incidents.migrations import current_revision, head_revision

    url, rev = _inspect(config, store, "read the schema revision", current_revision)
    head = head_revision()
    status = "up to date" if rev == head else ("not stamped" if rev is None else "behind or unknown")
    _common.console.print(
        f"{mask_url(url)}: revision {rev or '(none)'}; head {head} ({status})", highlight=False, markup=False
    )


@db_app.command("check")
def db_check(config: ConfigOpt = None, store: StoreOpt = None) -> None:
    """Compare the database's schema with the models; exit 1 listing the differences."""
    from rcaflows.incidents.db import mask_url
    from rcaflows.incidents.migrations import schema_diff

    url, diffs = _inspect(config, store, "inspect the schema", schema_diff)
    if not diffs:
        _common.console.print(f"{mask_url(url)}: schema matches the models", highlight=False, markup=False)
        return
    for d in diffs:
        _common.console.print(f"  {d}", highlight=False, markup=False)
    _common.err.print(
        f"{mask_url(url)}: {len(diffs)} difference(s) from the models; run 'rcaflows db upgrade', "
        "or write the missing migration",
        markup=False,
    )
    raise typer.Exit(code=1)


@db_app.command("backup")
def db_backup(
    file: Annotated[Path, typer.Argument(help="New file to write the copy to (never overwritten).")],
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Copy a SQLite store to FILE while in use, including what is still in its -wal file (PostgreSQL: pg_dump)."""
    from rcaflows.incidents.db import Store

    try:
        url = _url(config, store)
        st = Store(url)
        try:
            dest = st.backup(file)
        finally:
            st.dispose()
    except RcaflowsError as exc:
        fail(exc)
    _common.console.print(f"backed up {st.masked_url} to {dest}", highlight=False, markup=False)


@db_app.command("reap")
def db_reap(
    config: ConfigOpt = None,
    store: StoreOpt = None,
    now: Annotated[
        str | None, typer.Option("--now", help="Measure run ages at this UTC time instead of now (ISO 8601).")
    ] = None,
) -> None:
    """Fail the system's RCA runs that died or overran rca.runs.time_limit; re-queue their incidents per policy.

    Every detection run does the same first; the next detection run starts the re-queued RCAs.
    """
    from rcaflows.cli._common import parse_time
    from rcaflows.config import load_config
    from rcaflows.incidents import Store
    from rcaflows.incidents.reaper import reap

    try:
        cfg = load_config(config)
        result = reap(Store.from_url(store or cfg.store.url), cfg, actor="cli:db-reap", now=parse_time(now, "--now"))
    except RcaflowsError as exc:
        fail(exc)
    for r in result.reaped:
        what = "re-queued" if r.requeued else "not re-queued"
        incident = f"{r.incident} ({r.state})" if r.incident else "(ad-hoc run)"
        _common.console.print(f"RCA run {r.run_id} of {incident}: {r.detail}; {what}", highlight=False, markup=False)
    queued = ", ".join(result.queued) or "none"
    _common.console.print(
        f"{len(result.reaped)} RCA run(s) failed by the reaper; waiting for a re-queued RCA: {queued}",
        highlight=False,
        markup=False,
    )
