"""Fuzzed config files give ``file:line: field.path: expected`` problems or a config, never a crash.

Structure-aware: the bundled demo config is mutated (values replaced by hostile ones, keys deleted
or added) and dumped back to YAML; raw bytes and text are tried too. A fixed, small budget keeps
it to seconds in CI.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rcaflows.config import demo_config_path, load_config, parse_config
from rcaflows.config.models import SystemConfig
from rcaflows.errors import ConfigError

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DEMO: dict[str, Any] = yaml.safe_load(demo_config_path().read_text())
BASE_DIR = demo_config_path().parent
PROBLEM = re.compile(r"^fuzz\.yaml:\d+: \S.*: \S")


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


PATHS = _paths(DEMO)

hostile = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**30), 10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(
        ["[/]", "[red]x", "x" * 300, "1h", "-1h", "0s", "99999999999999999d", "1e400w", "team:", "{{ x }}", "\x00"]
    ),
    st.lists(st.sampled_from(["a", "[/]", "", "scoring_api"]), max_size=3),
    st.dictionaries(st.sampled_from(["name", "kind", "x"]), st.sampled_from(["a", 1, None]), max_size=2),
)
mutation = st.tuples(st.sampled_from(["set", "delete", "add"]), st.sampled_from(PATHS), hostile)


def _mutate(raw: dict[str, Any], op: str, path: tuple[Any, ...], value: Any) -> None:
    parent: Any = raw
    for p in path[:-1]:
        try:
            parent = parent[p]
        except (KeyError, IndexError, TypeError):  # an earlier mutation changed the shape
            return
    last = path[-1]
    if not isinstance(parent, dict | list) or (isinstance(parent, list) and not isinstance(last, int)):
        return
    if (isinstance(parent, list) and last >= len(parent)) or (
        isinstance(parent, dict) and op != "add" and last not in parent
    ):
        return
    if op == "set":
        parent[last] = value
    elif op == "delete":
        del parent[last]
    elif isinstance(parent, dict):
        parent["unexpected_key"] = value
    else:
        parent.append(value)


def _check(text: str) -> None:
    try:
        cfg = parse_config(text, "fuzz.yaml", base_dir=BASE_DIR)
    except ConfigError as exc:
        assert exc.problems
        for p in exc.problems:
            assert PROBLEM.match(p), p  # file:line: field.path: what was expected
        return
    assert isinstance(cfg, SystemConfig)


@FUZZ
@given(st.lists(mutation, min_size=1, max_size=4))
@example([("set", ("components", 0, "depends_on"), [DEMO["components"][0]["name"]])])  # depends on itself
@example([("set", ("system", "name"), "x" * 300)])
@example([("set", ("window", "current"), "99999999999999999d")])
def test_fuzz_structured_config(mutations: list[tuple[str, tuple[Any, ...], Any]]) -> None:
    raw = copy.deepcopy(DEMO)
    for op, path, value in mutations:
        _mutate(raw, op, path, value)
    _check(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False))


@FUZZ
@given(st.text(max_size=300))
@example("system: [unclosed\n")
@example("- a\n- b\n")
@example("a: &x [*x]\n")
@example("? [a, b]\n: c\n")
@example("a: " + "[" * 5000 + "]" * 5000 + "\n")
def test_fuzz_config_text(text: str) -> None:
    _check(text)


@FUZZ
@given(st.binary(max_size=200))
@example(b"system:\n  name: caf\xe9\n")
@example(b"\xff\xfe\x00s\x00y")
def test_fuzz_config_bytes(tmp_path_factory: Any, data: bytes) -> None:
    path: Path = tmp_path_factory.mktemp("cfg") / "fuzz.yaml"
    path.write_bytes(data)
    try:
        load_config(path)
    except ConfigError as exc:
        assert all(re.match(rf"^{re.escape(str(path))}:\d+: \S.*: \S", p) for p in exc.problems), exc.problems
