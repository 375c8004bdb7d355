"""Hostile but realistic input gives a clear error or works, never a traceback (issue 13, items 2 and 8).

The fuzz tests run a fixed, small hypothesis budget (``max_examples``, no deadline) so CI runs
them in seconds; a failure prints the shrunk input to reproduce it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
import yaml
from cli_helpers import open_incident
from click.testing import CliRunner as ClickRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from rich.console import Console
from typer.testing import Result

from rcaflows import cli
from rcaflows.cli import app
from rcaflows.config import demo_config_path

DEMO = str(demo_config_path())
COMMAND = typer.main.get_command(app)  # built once: typer rebuilds it (~0.4 s) on every CliRunner.invoke(app)
FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Free text as people paste it: markup, quotes, control characters, very long, any script.
free_text = st.one_of(
    st.text(max_size=60),
    st.sampled_from(["[/]", "[red]x", "[bold]", "\\", "]", "'\"", "\x1b[31mred", "\r\n\t", "${HOME}", "%s%n"]),
    st.text(alphabet=st.sampled_from("[]/\\'\"\x00\x07\n é漢🙂"), max_size=40),
    st.integers(0, 6000).map(lambda n: "x" * n),
).filter(lambda s: "\x00" not in s)  # argv cannot carry NUL (the OS ends a C string there)


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli._common, "console", Console(width=200, soft_wrap=True))
    monkeypatch.setattr(cli._common, "err", Console(width=200, soft_wrap=True, stderr=True))


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="rcaflows-fuzz-") as d:
        yield f"sqlite:///{Path(d) / 'i.db'}"


def clean(res: Result, allowed: tuple[int, ...] = (0, 1, 2)) -> Result:
    """Assert the command ended with a clear outcome: no uncaught exception, an exit code in ``allowed``."""
    assert res.exception is None or isinstance(res.exception, SystemExit), (
        f"uncaught {type(res.exception).__name__}: {res.exception}\n{res.output}"
    )
    assert res.exit_code in allowed, res.output
    assert "Traceback" not in res.output
    return res


def run(*args: str) -> Result:
    return clean(ClickRunner().invoke(COMMAND, list(args)))


# -- regressions of the reports ------------------------------------------------------------------


def _subprocess(*args: str | bytes) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "COLUMNS": "200"}
    code = "from rcaflows.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, env=env, timeout=300)


def test_detect_with_a_bad_config_lists_its_problems_without_a_traceback(tmp_path: Path) -> None:
    raw = yaml.safe_load(demo_config_path().read_text())
    raw["routing"]["default_team"] = "nobody"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(raw, sort_keys=False))
    out = _subprocess("detect", "--config", str(bad))
    err = out.stderr.decode()
    assert out.returncode == 2 and "Traceback" not in err
    assert "1 problem(s)" in err and "routing.default_team: unknown team 'nobody'" in err


def test_a_config_that_is_not_utf8_is_reported_by_validate(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(demo_config_path().read_bytes().replace(b"fraud-scoring", b"fraud-sc\xf6ring", 1))
    res = run("validate", str(bad))
    assert res.exit_code == 1 and f"{bad}:" in res.output and "not UTF-8" in res.output


def test_an_argument_that_is_not_utf8_is_a_clear_error(tmp_path: Path) -> None:
    out = _subprocess("incidents", "note", "INC-0001", b"caf\xe9", "--store", f"sqlite:///{tmp_path / 'i.db'}")
    assert out.returncode == 2 and b"not valid UTF-8" in out.stderr and b"Traceback" not in out.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("silence", "add", "-r", "x", "--for", "100000000d"),
        ("silence", "add", "-r", "x", "--for", "9" * 40 + "w"),
        ("silence", "add", "-r", "x", "--start", "9999-12-31T23:00:00Z", "--for", "1d"),
        ("incidents", "snooze", "{key}", "--reason", "x", "--for", "100000000d"),
        ("incidents", "ack", "{key}", "--expires", "100000000d"),
        ("incidents", "ack", "{key}", "--at", "9999-12-31T23:59:59Z"),
        ("incidents", "note", "{key}", "x", "--at", "0001-01-01T00:00:00Z"),
        ("metrics", "--since", "100000000d"),
        ("metrics", "--since", "3650000d", "--until", "0001-01-02T00:00:00Z"),
    ],
)
def test_huge_durations_and_extreme_times_are_clear_errors(url: str, args: tuple[str, ...]) -> None:
    key = open_incident(url, title="latency up", triage=False)
    res = run(*(a.format(key=key) for a in args), "--store", url)
    assert res.exit_code == 2 and "error:" in res.output


# -- fuzz --------------------------------------------------------------------------------------------------


@FUZZ
@given(text=free_text, actor=free_text)
@example(text="see [/] here", actor="user:[red]x")  # the reports, always tried
@example(text="x" * 6000, actor="")
def test_fuzz_free_text_notes_and_actors(url: str, text: str, actor: str) -> None:
    key = open_incident(url, title="latency up", triage=False)
    res = run("incidents", "note", key, text, "--as", actor or "user:x", "--store", url)
    if res.exit_code == 0:
        shown = run("incidents", "show", key, "--store", url)
        assert shown.exit_code == 0
    run("incidents", "list", "--limit", "5", "--store", url)


@FUZZ
@given(component=free_text.filter(bool), title=free_text.filter(lambda s: s.strip() != ""))
@example(component="scoring[/]api", title="[red]dep")
@example(component="c" * 300, title="t" * 900)
def test_fuzz_names_and_titles_from_the_data(url: str, component: str, title: str) -> None:
    key = open_incident(url, component=component, title=title, triage=False)
    for args in (
        ("incidents", "show", key),
        ("incidents", "list", "--limit", "3"),
        ("route", "--explain", key, "--config", str(demo_config_path())),
        ("incidents", "escalations", key),
    ):
        assert run(*args, "--store", url).exit_code == 0


@FUZZ
@given(
    reason=free_text,
    component=st.none() | free_text,
    duration=st.none() | st.sampled_from(["1h", "0s", "-1h", "1e9d", "99999999999w", "", "h", "1.5h", " 2h "]),
    until=st.none() | st.sampled_from(["2030-01-01T00:00:00Z", "2020-01-01", "9999-12-31T23:59:59Z", "soon", ""]),
)
@example(reason="r", component="[/]", duration="100000000d", until=None)
def test_fuzz_silences(url: str, reason: str, component: str | None, duration: str | None, until: str | None) -> None:
    args = ["silence", "add", "--reason", reason]
    for opt, value in (("--component", component), ("--for", duration), ("--until", until)):
        if value is not None:
            args += [opt, value]
    run(*args, "--store", url)
    run("silence", "list", "--all", "--store", url)
    run("silence", "list", "--json", "--store", url)


@FUZZ
@given(
    ref=st.one_of(free_text, st.integers(-(10**30), 10**30).map(str), st.sampled_from(["INC-", "INC-9" * 30, "0"])),
    at=st.none() | st.one_of(free_text, st.sampled_from(["2026-13-01T00:00:00Z", "1e99", "now", "2026-03-01T12:00Z"])),
    duration=st.one_of(free_text, st.sampled_from(["30m", "0m", "1e400d", "7d"])),
)
@example(ref="9223372036854775808", at=None, duration="")  # beyond a 64-bit id: once an OverflowError
def test_fuzz_incident_references_times_and_durations(url: str, ref: str, at: str | None, duration: str) -> None:
    open_incident(url, title="latency up", triage=False)
    at_args = ["--at", at] if at is not None else []
    run("incidents", "show", ref, "--store", url)
    run("incidents", "ack", ref, "--expires", duration, *at_args, "--store", url)
    run("incidents", "snooze", ref, "--for", duration, "--reason", "r", *at_args, "--store", url)
    run("incidents", "resolve", ref, "--reason", duration, *at_args, "--store", url)
    run("incidents", "severity", ref, duration, "--reason", "r", "--store", url)
    run("metrics", "--since", duration, "--store", url, *(["--until", at] if at is not None else []))
    run("route", "--type", duration, "--component", ref or "x", "--severity", "high", "--config", DEMO)
