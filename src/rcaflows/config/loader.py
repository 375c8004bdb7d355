"""Load a system config from YAML and report every problem with file, line and field path."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import networkx as nx
import yaml
from pydantic import ValidationError

from rcaflows.config.models import SystemConfig
from rcaflows.config.routing import unreachable_rules
from rcaflows.errors import ConfigError

STORE_URL_ENV = "RCAFLOWS_STORE_URL"
#: the config file used when a command or flow is given none
CONFIG_ENV = "RCAFLOWS_CONFIG"

Path_ = tuple[str | int, ...]

# libyaml's safe loader when PyYAML was built with it (10x faster: every CLI command loads the config).
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def demo_config_path() -> Path:
    """Return the path of the bundled demo system's config."""
    return Path(str(resources.files("rcaflows.demo").joinpath("system.yaml")))


def _line_map(text: str, loader: type[yaml.SafeLoader] = _LOADER) -> dict[Path_, int]:
    """Map every key path in a YAML document to its 1-based line number."""
    lines: dict[Path_, int] = {}

    seen: set[int] = set()

    def walk(node: yaml.Node, path: Path_) -> None:
        lines[path] = node.start_mark.line + 1
        if id(node) in seen:  # an alias: walked where it was anchored (a recursive one would never end)
            return
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                k = key.value
                lines[(*path, k)] = key.start_mark.line + 1
                walk(value, (*path, k))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, (*path, i))

    root = yaml.compose(text, Loader=loader)
    if root is not None:
        walk(root, ())
    return lines


def _line_of(lines: dict[Path_, int], path: Path_) -> int:
    for n in range(len(path), -1, -1):
        if path[:n] in lines:
            return lines[path[:n]]
    return 1


def _dotted(path: Path_) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(root)"


def located(file: str | Path, problems: Iterable[tuple[Path_, str]]) -> list[str]:
    """Return each ``(field path, problem)`` as ``file:line: field.path: problem``, like the loader's own.

    For the checks made above the loader (notifier kinds, schedules, templates, custom metrics): the
    line is that of the field in ``file``, or of its nearest parent; 1 when the file cannot be read.
    A ``models.0`` path is shown as ``model`` where the file uses that shorthand.
    """
    try:
        lines = _line_map(Path(file).read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError):
        lines = {}
    top = {p[0] for p in lines if len(p) == 1}
    written = [(_as_written(path, top), msg) for path, msg in problems]
    return [f"{file}:{_line_of(lines, path)}: {_dotted(path)}: {msg}" for path, msg in written]


def _cross_reference(cfg: SystemConfig) -> Iterator[tuple[Path_, str]]:
    """Yield (path, message) for names that refer to nothing."""
    components = {c.name for c in cfg.components}
    teams = {t.name for t in cfg.teams}
    channels = {c.name for c in cfg.notifications}
    policies = {p.name for p in cfg.escalation}
    nodes = {n.name for n in cfg.lineage.nodes}

    def dupes(names: list[str], path: Path_, what: str) -> Iterator[tuple[Path_, str]]:
        seen: set[str] = set()
        for i, n in enumerate(names):
            if n in seen:
                yield (*path, i, "name"), f"duplicate {what} name {n!r}; names must be unique"
            seen.add(n)

    yield from dupes([c.name for c in cfg.components], ("components",), "component")
    yield from dupes([t.name for t in cfg.teams], ("teams",), "team")
    yield from dupes([n.name for n in cfg.lineage.nodes], ("lineage", "nodes"), "lineage node")
    yield from dupes([c.name for c in cfg.notifications], ("notifications",), "channel")
    yield from dupes([m.name for m in cfg.models], ("models",), "model")

    for i, c in enumerate(cfg.components):
        for j, dep in enumerate(c.depends_on):
            if dep not in components:
                yield (
                    ("components", i, "depends_on", j),
                    f"unknown component {dep!r}; expected one of {sorted(components)}",
                )
        if c.team is not None and c.team not in teams:
            yield ("components", i, "team"), f"unknown team {c.team!r}; expected one of {sorted(teams)}"
    for i, c in enumerate(cfg.components):
        if c.name in c.depends_on:
            j = c.depends_on.index(c.name)
            yield ("components", i, "depends_on", j), f"component {c.name!r} depends on itself; remove it"
    topo = nx.DiGraph([(c.name, d) for c in cfg.components for d in c.depends_on if d in components and d != c.name])
    if topo.number_of_edges() and not nx.is_directed_acyclic_graph(topo):
        loop = [u for u, _ in nx.find_cycle(topo)]
        first = next(i for i, c in enumerate(cfg.components) if c.name == loop[0])
        yield (
            ("components", first, "depends_on"),
            f"components depend on each other in a cycle ({' -> '.join([*loop, loop[0]])}); "
            "the topology must be acyclic (root causes are searched downstream to upstream)",
        )
    for i, m in enumerate(cfg.metrics):
        if m.component not in components:
            yield (
                ("metrics", i, "component"),
                f"unknown component {m.component!r}; declare it under 'components'",
            )
    for i, n in enumerate(cfg.lineage.nodes):
        if n.component is not None and n.component not in components:
            yield ("lineage", "nodes", i, "component"), f"unknown component {n.component!r}"
    for i, (u, v) in enumerate(cfg.lineage.edges):
        for j, end in enumerate((u, v)):
            if end not in nodes:
                yield (
                    ("lineage", "edges", i, j),
                    f"unknown lineage node {end!r}; declare it under 'lineage.nodes'",
                )
    if cfg.lineage.edges:
        g = nx.DiGraph(cfg.lineage.edges)
        if not nx.is_directed_acyclic_graph(g):
            cycle = " -> ".join(u for u, _ in nx.find_cycle(g))
            yield ("lineage", "edges"), f"lineage has a cycle ({cycle}); lineage must be acyclic"
    sources = {s.name for s in cfg.sources}
    for i, model in enumerate(cfg.models):
        at: Path_ = ("models", i)
        if model.component not in components:
            yield (*at, "component"), f"unknown component {model.component!r}"
        if model.lineage_node not in nodes:
            yield (*at, "lineage_node"), f"unknown lineage node {model.lineage_node!r}"
        if len(cfg.models) > 1 and model.source is None and model.log.model is None:
            yield (
                at,
                f"model {model.name!r} is one of {len(cfg.models)}: give it 'source' (the source that delivers "
                "its predictions) or 'log.model' (a column naming the model of each row)",
            )
        if model.source is not None and model.source not in sources:
            yield (*at, "source"), f"unknown source {model.source!r}; expected one of {sorted(sources)}"
        training = model.training
        if training is not None:
            if training.node not in nodes:
                yield (*at, "training", "node"), f"unknown lineage node {training.node!r}"
            elif model.lineage_node in nodes and not _upstream(cfg, training.node, model.lineage_node):
                yield (
                    (*at, "training", "node"),
                    f"lineage node {training.node!r} is not upstream of the model's node "
                    f"{model.lineage_node!r}; add an edge [{training.node}, {model.lineage_node}] "
                    "(or a path) under 'lineage.edges', or the RCA cannot link a version to its training batch",
                )
    for i, spec in enumerate(cfg.detectors.data_quality.expectations):
        if spec.node not in nodes:
            yield (
                ("detectors", "data_quality", "expectations", i, "node"),
                f"unknown lineage node {spec.node!r}",
            )
    for i, node in enumerate(cfg.detectors.data_quality.drift_nodes):
        if node not in nodes:
            yield ("detectors", "data_quality", "drift_nodes", i), f"unknown lineage node {node!r}"
    for i, t in enumerate(cfg.teams):
        for j, ch in enumerate(t.channels):
            if ch not in channels:
                yield ("teams", i, "channels", j), f"unknown channel {ch!r}; declare it under 'notifications'"
        if t.escalation_policy is not None and t.escalation_policy not in policies:
            yield ("teams", i, "escalation_policy"), f"unknown escalation policy {t.escalation_policy!r}"
    for i, r in enumerate(cfg.routing.rules):
        if r.team not in teams:
            yield ("routing", "rules", i, "team"), f"unknown team {r.team!r}; expected one of {sorted(teams)}"
        for j, ch in enumerate(r.channels):
            if ch not in channels:
                yield ("routing", "rules", i, "channels", j), f"unknown channel {ch!r}"
        for j, comp in enumerate(r.match.component):
            if comp not in components:
                yield ("routing", "rules", i, "match", "component", j), f"unknown component {comp!r}"
    if cfg.routing.default_team not in teams:
        yield (
            ("routing", "default_team"),
            f"unknown team {cfg.routing.default_team!r}; expected one of {sorted(teams)}",
        )
    yield from dupes([p.name for p in cfg.escalation], ("escalation",), "escalation policy")
    for i, p in enumerate(cfg.escalation):
        afters = [lvl.after for lvl in p.levels]
        if afters != sorted(afters):
            yield ("escalation", i, "levels"), "levels must be in increasing order of 'after'"
        targets: list[tuple[Path_, str]] = [
            (("escalation", i, "levels", j, "notify", k), tgt)
            for j, lvl in enumerate(p.levels)
            for k, tgt in enumerate(lvl.notify)
        ]
        for fld in ("immediate", "management", "coordinator", "executive"):
            targets += [(("escalation", i, fld, k), tgt) for k, tgt in enumerate(getattr(p, fld))]
        for path, tgt in targets:
            if tgt.startswith("team:"):
                if tgt[5:] not in teams:
                    yield path, f"unknown team {tgt[5:]!r} in target {tgt!r}; expected one of {sorted(teams)}"
            elif tgt not in channels and not tgt.startswith("oncall:"):  # oncall: targets: oncall_problems
                yield path, f"unknown channel {tgt!r}; declare it under 'notifications' or write 'team:<name>'"
        for fld, when in (("management", "unresolved_after"), ("coordinator", "coordinator_at")):
            if getattr(p, when) is not None and not getattr(p, fld):
                yield ("escalation", i, fld), f"'{when}' is set but '{fld}' names no target"
        if p.executive_for and not p.executive:
            yield ("escalation", i, "executive"), "'executive_for' is set but 'executive' names no target"
        if p.then is not None and p.then not in policies:
            yield ("escalation", i, "then"), f"unknown escalation policy {p.then!r}; expected one of {sorted(policies)}"
    chain = nx.DiGraph([(p.name, p.then) for p in cfg.escalation if p.then is not None and p.then in policies])
    if chain.number_of_edges() and not nx.is_directed_acyclic_graph(chain):
        loop = [u for u, _ in nx.find_cycle(chain)]
        first = next(i for i, p in enumerate(cfg.escalation) if p.name == loop[0])
        yield (
            ("escalation", first, "then"),
            f"escalation policies form a cycle ({' -> '.join([*loop, loop[0]])}); break it",
        )
    for i, why in unreachable_rules(cfg.routing.rules):
        yield ("routing", "rules", i), why
    if not cfg.sources:
        yield ("sources",), "at least one source is required"
    from rcaflows.config.communication import communication_problems, oncall_problems  # issue 15

    yield from oncall_problems(cfg)
    yield from communication_problems(cfg)


def _as_written(path: Path_, top: Iterable[Any]) -> Path_:
    """Return ``path`` as the file spells it: ``models.0.x`` is ``model.x`` where the file says ``model:``.

    ``top`` holds the file's top-level keys.
    """
    if path[:2] == ("models", 0) and "model" in top and "models" not in top:
        return ("model", *path[2:])
    return path


def _upstream(cfg: SystemConfig, node: str, of: str) -> bool:
    """Return whether lineage ``node`` is ``of`` or lies upstream of it (both declared)."""
    g = nx.DiGraph(cfg.lineage.edges)
    g.add_nodes_from([node, of])
    return nx.has_path(g, node, of)


def _with_openlineage(cfg: SystemConfig, base_dir: Path, where: str, lines: dict[Path_, int]) -> SystemConfig:
    """Merge the lineage read from ``lineage.openlineage`` events with the nodes and edges declared inline."""
    from rcaflows.errors import DataError
    from rcaflows.sources.openlineage import load_openlineage, to_lineage_config

    ref = cfg.lineage.openlineage
    assert ref is not None
    path = Path(ref) if Path(ref).is_absolute() else base_dir / ref
    line = _line_of(lines, ("lineage", "openlineage"))
    if not path.exists():
        msg = (
            f"{where}:{line}: lineage.openlineage: {path} does not exist; "
            "expected an OpenLineage event file or directory"
        )
        raise ConfigError(msg, [msg])
    try:
        read = to_lineage_config(load_openlineage(path).graph)
    except (DataError, ConfigError) as exc:
        msg = f"{where}:{line}: lineage.openlineage: {exc}"
        raise ConfigError(msg, [msg]) from None
    declared = {n.name for n in cfg.lineage.nodes}
    nodes = [n for n in read.nodes if n.name not in declared] + list(cfg.lineage.nodes)
    edges = list(dict.fromkeys([*read.edges, *cfg.lineage.edges]))
    lineage = cfg.lineage.model_copy(update={"nodes": nodes, "edges": edges})
    return cfg.model_copy(update={"lineage": lineage})


def parse_config(text: str, where: str = "<config>", base_dir: Path | None = None) -> SystemConfig:
    """Parse and validate config text; raise :class:`ConfigError` listing every problem.

    ``base_dir`` resolves relative paths in the config (default: the current directory).
    """
    try:
        try:
            raw = yaml.load(text, Loader=_LOADER)  # a safe loader: plain data only
            lines = _line_map(text)
        except yaml.YAMLError:  # parse again in Python: its messages name what was expected, and where
            raw, lines = yaml.safe_load(text), _line_map(text, yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ":1"
        problem = getattr(exc, "problem", None) or str(exc)
        msg = f"{where}{line}: not valid YAML: {problem}"
        raise ConfigError(msg, [msg]) from exc
    except RecursionError:
        msg = f"{where}:1: (root): nested too deeply (a YAML alias that contains itself?); expected plain data"
        raise ConfigError(msg, [msg]) from None
    if not isinstance(raw, dict):
        msg = f"{where}:1: (root): expected a mapping with keys system, sources, components, teams, routing"
        raise ConfigError(msg, [msg])
    try:
        cfg = SystemConfig.model_validate(raw)
    except RecursionError:
        msg = f"{where}:1: (root): nested too deeply (a YAML alias that contains itself?); expected plain data"
        raise ConfigError(msg, [msg]) from None
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            path: Path_ = _as_written(tuple(err["loc"]), raw)
            expected = err["msg"]
            if err["type"] == "missing":
                expected = "required field is missing"
            elif err["type"] == "extra_forbidden":
                expected = "unknown field; check its spelling"
            problems.append(f"{where}:{_line_of(lines, path)}: {_dotted(path)}: {expected}")
        raise ConfigError(f"{where}: {len(problems)} problem(s) in config", problems) from None
    if cfg.lineage.openlineage:
        cfg = _with_openlineage(cfg, base_dir or Path.cwd(), where, lines)
    problems = [
        f"{where}:{_line_of(lines, q)}: {_dotted(q)}: {m}"
        for q, m in ((_as_written(p, raw), m) for p, m in _cross_reference(cfg))
    ]
    if problems:
        raise ConfigError(f"{where}: {len(problems)} problem(s) in config", problems)
    return cfg


def load_config(path: str | os.PathLike[str] | None = None) -> SystemConfig:
    """Load the config at ``path`` (default: the file ``RCAFLOWS_CONFIG`` names).

    The store URL from ``RCAFLOWS_STORE_URL`` overrides the file's ``store.url``.

    Raises:
        ConfigError: When no path is given and ``RCAFLOWS_CONFIG`` is unset: nothing falls back to the demo.
    """
    path = path if path is not None else os.environ.get(CONFIG_ENV) or None
    if path is None:
        msg = (
            f"no config given: pass --config PATH (or set {CONFIG_ENV}) to a system config YAML; "
            "`rcaflows demo` runs the bundled demo system"
        )
        raise ConfigError(msg, [msg])
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        msg = f"{p}: cannot read config: {exc.strerror or exc}"
        raise ConfigError(msg, [msg]) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        msg = f"{p}:{line}: (file): byte 0x{raw[exc.start]:02x} is not UTF-8; expected a UTF-8 text file"
        raise ConfigError(msg, [msg]) from None
    cfg = parse_config(text, str(p), base_dir=p.parent)
    env_url = os.environ.get(STORE_URL_ENV)
    if env_url:
        cfg = cfg.model_copy(update={"store": cfg.store.model_copy(update={"url": env_url})})
    return cfg


def config_fingerprint(cfg: SystemConfig) -> str:
    """Return a stable short hash of a config's content."""
    import hashlib

    return hashlib.sha256(cfg.model_dump_json().encode()).hexdigest()[:16]
