"""The layering of docs/architecture.md holds: `lint-imports` keeps every contract in pyproject.toml.

The contracts forbid, among others, the cycles issue 12.3 removed: the incident store importing
triage (``reopen`` re-planning escalation inline) and the config loader importing triage (the
routing check). A second test shows the checker reads the real import graph, so a pass means
something: a contract that inverts two layers is reported broken, naming the import.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
_LINT = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"


def lint_imports(*args: str) -> subprocess.CompletedProcess[str]:
    """Run import-linter from the repository root (it reads pyproject.toml there); never cache."""
    return subprocess.run(
        [sys.executable, "-c", _LINT, "--no-cache", "--no-logo", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_every_import_contract_is_kept() -> None:
    out = lint_imports()
    report = out.stdout + out.stderr
    assert out.returncode == 0, report
    assert "0 broken" in report and "Contracts: 3 kept" in report, report


def test_an_inverted_layering_is_reported_broken(tmp_path: Path) -> None:
    inverted = tmp_path / "inverted.toml"
    inverted.write_text(
        "[tool.importlinter]\n"
        'root_packages = ["rcaflows"]\n'
        "[[tool.importlinter.contracts]]\n"
        'name = "triage below the store (wrong on purpose)"\n'
        'type = "layers"\n'
        'layers = ["rcaflows.incidents", "rcaflows.triage"]\n',
        encoding="utf-8",
    )
    out = lint_imports(str(inverted))
    assert out.returncode != 0
    assert "rcaflows.triage is not allowed to import rcaflows.incidents" in out.stdout, out.stdout


def test_no_import_path_leads_from_the_store_or_the_config_to_triage() -> None:
    graph = grimp.build_graph("rcaflows", cache_dir=None)
    for low in ("rcaflows.incidents", "rcaflows.config"):
        for high in ("rcaflows.triage", "rcaflows.notify", "rcaflows.postmortem", "rcaflows.wiring"):
            chain = graph.find_shortest_chains(importer=low, imported=high, as_packages=True)
            assert not chain, f"{low} reaches {high}: {sorted(chain)}"
    # ... while the subscribers do build on the store (the check above is not vacuous).
    assert graph.find_shortest_chains(importer="rcaflows.triage", imported="rcaflows.incidents", as_packages=True)
