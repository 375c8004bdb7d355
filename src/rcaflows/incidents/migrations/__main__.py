"""Run Alembic's command line on the store's migrations: ``python -m rcaflows.incidents.migrations``.

The database is ``--url`` or ``$RCAFLOWS_STORE_URL``; e.g. write a new migration after changing
the models with ``python -m rcaflows.incidents.migrations --url sqlite:///tmp.db revision
--autogenerate -m "add silences"`` (upgrade that database to head first).
"""

from __future__ import annotations

import os
import sys

from alembic.config import CommandLine

from rcaflows.incidents.migrations import alembic_config


def main(argv: list[str] | None = None) -> None:
    """Parse Alembic's arguments (plus ``--url``) and run the command."""
    args = list(sys.argv[1:] if argv is None else argv)
    url = os.environ.get("RCAFLOWS_STORE_URL")
    if "--url" in args:
        i = args.index("--url")
        url = args[i + 1]
        del args[i : i + 2]
    cli = CommandLine(prog="python -m rcaflows.incidents.migrations")
    options = cli.parser.parse_args(args)
    if not hasattr(options, "cmd"):
        cli.parser.error("too few arguments")
    cli.run_cmd(alembic_config(url), options)


if __name__ == "__main__":
    main()
