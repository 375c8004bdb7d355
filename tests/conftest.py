"""Shared fixtures: quiet Prefect defaults and one session-scoped Prefect test harness.

Engine tests never touch Prefect; flow tests request ``prefect_api`` and share one harness
(temporary SQLite database + API subprocess) for the whole session.
"""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "ERROR")
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="rcaflows-prefect-home-"))
# Commands and flows given no --config read $RCAFLOWS_CONFIG (nothing falls back to the demo by itself):
# the tests name the bundled demo system.
os.environ.setdefault(
    "RCAFLOWS_CONFIG", os.path.abspath(os.path.join(os.path.dirname(__file__), "../src/rcaflows/demo/system.yaml"))
)

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session", autouse=True)
def wired() -> None:
    """Subscribe escalation, notification and post-mortem to the lifecycle events, as the CLI and flows do."""
    from rcaflows import wiring

    wiring.install()


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[None]:
    """Run the session's flow tests against one Prefect test harness, heartbeat off."""
    import prefect.settings as ps
    from prefect.settings import temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with (
        prefect_test_harness(server_startup_timeout=120),
        temporary_settings(updates={ps.PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
    ):
        yield


@pytest.fixture(scope="session")
def shared_eval() -> tuple[object, object]:
    """Return the shared real-data folder (``../shared``) and its scoring module, or skip without it.

    The labelled development data (NAB, TCPD, RCA incidents) sits beside the checkout, not in it.
    Tests that hold a floor under real-data scores skip when it is absent, and fail instead when
    ``RCAFLOWS_REQUIRE_SHARED_DATA=1`` (CI sets it whenever the folder exists).
    """
    import importlib.util
    import sys
    from pathlib import Path

    shared = Path(__file__).resolve().parents[1].parent / "shared"
    scoring_py = shared / "eval" / "scoring.py"
    if not (shared / "data").is_dir() or not scoring_py.exists():
        if os.environ.get("RCAFLOWS_REQUIRE_SHARED_DATA"):
            pytest.fail(f"shared data or scoring missing under {shared} (RCAFLOWS_REQUIRE_SHARED_DATA=1)")
        pytest.skip(f"shared development data not found under {shared} (a sibling of the checkout)")
    spec = importlib.util.spec_from_file_location("shared_scoring", scoring_py)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return shared, module
