"""Lineage from OpenLineage events, and conversion to/from the plain YAML lineage (``LineageConfig``).

Datasets and jobs become nodes, keyed by their ``name`` (``namespace/name`` when two namespaces
share a name); a run's inputs feed its job and the job feeds its outputs. Facets are kept as node
attributes: ``facets`` (the merged raw facets), ``columns`` (from ``schema``), ``row_count``
(``outputStatistics.rowCount``) and ``assertions`` (``dataQualityAssertions``). A custom ``rcaflows``
facet ``{kind, component}`` says what a node is in the config's terms; without it the kind is
inferred (a dataset nothing produces is a ``source``, a job with no outputs a ``consumer``).

Bad streams never crash the reader: unknown event types, events without a job or dataset, and
references without a namespace or name are skipped with a warning; a cycle is a warning here and
a :class:`DataError` when converted to a ``LineageConfig`` (lineage must be acyclic).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import networkx as nx

from rcaflows.config.models import LineageConfig, LineageNode, LineageNodeKind
from rcaflows.errors import ConfigError, DataError

RUN_EVENT_TYPES = frozenset({"START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"})
PRODUCER = "https://github.com/rcaflows/rcaflows"
_SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json"
_FACET_SCHEMA = "https://openlineage.io/spec/facets/1-0-0/{}.json"
_JOB_KINDS = {LineageNodeKind.JOB, LineageNodeKind.MODEL, LineageNodeKind.CONSUMER}


@dataclass
class OpenLineageGraph:
    """The lineage graph built from an event stream, and what was skipped on the way."""

    graph: nx.DiGraph
    warnings: list[str] = field(default_factory=list)
    events: int = 0


def read_events(path: Path) -> tuple[list[tuple[str, Any]], list[str]]:
    """Read events from a JSON-lines file, a JSON file or a directory of ``.json``/``.jsonl`` files.

    Returns ``(where, event)`` pairs and warnings for lines that are not JSON objects.
    """
    if not path.exists():
        raise DataError(f"{path}: OpenLineage events not found")
    files = sorted(p for p in path.iterdir() if p.suffix in (".json", ".jsonl")) if path.is_dir() else [path]
    out: list[tuple[str, Any]] = []
    warnings: list[str] = []
    for f in files:
        text = f.read_text()
        try:  # one JSON document: an event or an array of events
            doc = json.loads(text)
        except json.JSONDecodeError:
            doc = None
        if isinstance(doc, list | dict):
            items = doc if isinstance(doc, list) else [doc]
            out.extend((f"{f}: event {i + 1}", e) for i, e in enumerate(items))
            continue
        for n, line in enumerate(text.splitlines(), 1):  # JSON lines
            if not line.strip():
                continue
            try:
                out.append((f"{f}:{n}", json.loads(line)))
            except json.JSONDecodeError as exc:
                warnings.append(f"{f}:{n}: not valid JSON ({exc.msg}); line skipped")
    return out, warnings


def _ref(item: Any, where: str, role: str, warnings: list[str]) -> tuple[str, str, dict[str, Any]] | None:
    if not isinstance(item, Mapping) or not item.get("namespace") or not item.get("name"):
        warnings.append(f"{where}: {role} without namespace and name ({item!r}); dangling reference skipped")
        return None
    facets = dict(item.get("facets") or {})
    for extra in ("inputFacets", "outputFacets"):
        facets.update(item.get(extra) or {})
    return str(item["namespace"]), str(item["name"]), facets


def build_graph(events: Iterable[tuple[str, Any]], warnings: list[str] | None = None) -> OpenLineageGraph:
    """Build the lineage graph from ``(where, event)`` pairs (run, job and dataset events)."""
    warnings = list(warnings or [])
    nodes: dict[tuple[str, str, str], dict[str, Any]] = {}  # (type, namespace, name) -> facets
    edges: list[tuple[tuple[str, str, str], tuple[str, str, str]]] = []
    parents: list[tuple[str, tuple[str, str]]] = []
    used = 0

    def add(key: tuple[str, str, str], facets: Mapping[str, Any]) -> None:
        nodes.setdefault(key, {}).update(facets)

    for where, ev in events:
        if not isinstance(ev, Mapping):
            warnings.append(f"{where}: not a JSON object; skipped")
            continue
        if "dataset" in ev and "job" not in ev:  # DatasetEvent
            ref = _ref(ev["dataset"], where, "dataset", warnings)
            if ref:
                add(("dataset", ref[0], ref[1]), ref[2])
                used += 1
            continue
        if "run" in ev or "eventType" in ev:
            etype = ev.get("eventType")
            if etype not in RUN_EVENT_TYPES:
                warnings.append(f"{where}: unknown eventType {etype!r}; expected one of {sorted(RUN_EVENT_TYPES)}")
                continue
            parent = ((ev.get("run") or {}).get("facets") or {}).get("parent") or {}
            pjob = parent.get("job") or {}
            if pjob.get("namespace") and pjob.get("name"):
                parents.append((where, (str(pjob["namespace"]), str(pjob["name"]))))
        job = _ref(ev.get("job"), where, "job", warnings)
        if job is None:
            continue
        jkey = ("job", job[0], job[1])
        add(jkey, job[2])
        used += 1
        for role, items in (("input", ev.get("inputs") or []), ("output", ev.get("outputs") or [])):
            for item in items:
                ref = _ref(item, where, role, warnings)
                if ref is None:
                    continue
                dkey = ("dataset", ref[0], ref[1])
                add(dkey, ref[2])
                edges.append((dkey, jkey) if role == "input" else (jkey, dkey))
    jobs = {(ns, n) for t, ns, n in nodes if t == "job"}
    for where, pj in parents:
        if pj not in jobs:
            warnings.append(f"{where}: parent job {pj[0]}/{pj[1]} appears in no event (dangling reference)")

    names: dict[str, set[str]] = {}
    for _, ns, n in nodes:
        names.setdefault(n, set()).add(ns)

    def key(k: tuple[str, str, str]) -> str:
        return k[2] if len(names[k[2]]) == 1 else f"{k[1]}/{k[2]}"

    g = nx.DiGraph()
    for k, facets in nodes.items():
        g.add_node(key(k), **_attributes(k, facets))
    g.add_edges_from((key(u), key(v)) for u, v in edges)
    for n, attrs in g.nodes(data=True):  # infer kinds the rcaflows facet did not give
        if attrs["kind"] is None:
            if attrs["openlineage_type"] == "job":
                attrs["kind"] = str(LineageNodeKind.JOB if g.out_degree(n) else LineageNodeKind.CONSUMER)
            else:
                attrs["kind"] = str(LineageNodeKind.DATASET if g.in_degree(n) else LineageNodeKind.SOURCE)
    if not nx.is_directed_acyclic_graph(g):
        cycle = " -> ".join(u for u, _ in nx.find_cycle(g))
        warnings.append(f"lineage has a cycle ({cycle}); lineage must be acyclic")
    return OpenLineageGraph(graph=g, warnings=warnings, events=used)


def _attributes(k: tuple[str, str, str], facets: Mapping[str, Any]) -> dict[str, Any]:
    own = facets.get("rcaflows") or {}
    schema = facets.get("schema") or {}
    stats = facets.get("outputStatistics") or {}
    dq = facets.get("dataQualityAssertions") or {}
    kind = own.get("kind")
    if kind is not None and kind not in {k.value for k in LineageNodeKind}:
        kind = None
    return {
        "openlineage_type": k[0],
        "namespace": k[1],
        "kind": kind,
        "component": own.get("component"),
        "columns": [str(f.get("name")) for f in schema.get("fields") or [] if isinstance(f, Mapping)],
        "row_count": stats.get("rowCount"),
        "assertions": list(dq.get("assertions") or []),
        "synthetic": bool(own.get("synthetic", False)),
        "facets": dict(facets),
    }


def load_openlineage(path: Path) -> OpenLineageGraph:
    """Read an event file or directory and build its lineage graph."""
    events, warnings = read_events(path)
    return build_graph(events, warnings)


def to_lineage_config(graph: nx.DiGraph) -> LineageConfig:
    """Return the plain lineage of a graph (synthetic connector nodes contracted); cycles raise DataError."""
    g = graph.copy()
    for n in [n for n, a in g.nodes(data=True) if a.get("synthetic")]:
        g.add_edges_from((u, v) for u in g.predecessors(n) for v in g.successors(n))
        g.remove_node(n)
    if not nx.is_directed_acyclic_graph(g):
        cycle = " -> ".join(u for u, _ in nx.find_cycle(g))
        raise DataError(f"OpenLineage lineage has a cycle ({cycle}); lineage must be acyclic")
    nodes = [
        LineageNode(name=n, kind=LineageNodeKind(a["kind"]), component=a.get("component"), columns=a.get("columns", []))
        for n, a in g.nodes(data=True)
    ]
    return LineageConfig(nodes=nodes, edges=[(u, v) for u, v in g.edges])


def _facet(name: str, body: Mapping[str, Any]) -> dict[str, Any]:
    return {"_producer": PRODUCER, "_schemaURL": _FACET_SCHEMA.format(name), **body}


def from_lineage_config(
    lineage: LineageConfig, namespace: str = "rcaflows", event_time: datetime | None = None
) -> list[dict[str, Any]]:
    """Return OpenLineage events equivalent to a plain lineage (one COMPLETE run per job).

    Nodes of kind job, model and consumer become jobs, the others datasets; an edge between two
    datasets (or two jobs) goes through a synthetic job (dataset) that :func:`to_lineage_config`
    contracts again.
    """
    when = (event_time or datetime(2026, 1, 1, tzinfo=UTC)).isoformat().replace("+00:00", "Z")
    nodes = {n.name: n for n in lineage.nodes}
    for i, (u, v) in enumerate(lineage.edges):
        for end in (u, v):
            if end not in nodes:
                raise ConfigError(f"lineage.edges[{i}]: unknown lineage node {end!r}")

    def is_job(name: str) -> bool:
        return nodes[name].kind in _JOB_KINDS if name in nodes else name.startswith("job:")

    def dataset(name: str) -> dict[str, Any]:
        n = nodes.get(name)
        facets: dict[str, Any] = {
            "rcaflows": _facet(
                "rcaflows", {"kind": str(n.kind), "component": n.component} if n else {"synthetic": True}
            )
        }
        if n is not None and n.columns:
            facets["schema"] = _facet("SchemaDatasetFacet", {"fields": [{"name": c} for c in n.columns]})
        return {"namespace": namespace, "name": name, "facets": facets}

    inputs: dict[str, list[str]] = {n.name: [] for n in lineage.nodes if is_job(n.name)}
    outputs: dict[str, list[str]] = {k: [] for k in inputs}
    for u, v in lineage.edges:
        if is_job(u) and not is_job(v):
            outputs[u].append(v)
        elif not is_job(u) and is_job(v):
            inputs[v].append(u)
        elif is_job(u):  # job -> job: through a synthetic dataset
            mid = f"data:{u}->{v}"
            outputs[u].append(mid)
            inputs[v].append(mid)
        else:  # dataset -> dataset: through a synthetic job
            mid = f"job:{u}->{v}"
            inputs.setdefault(mid, []).append(u)
            outputs.setdefault(mid, []).append(v)
    events: list[dict[str, Any]] = []
    for job in inputs:
        n = nodes.get(job)
        own = {"kind": str(n.kind), "component": n.component} if n else {"synthetic": True}
        events.append(
            {
                "eventType": "COMPLETE",
                "eventTime": when,
                "producer": PRODUCER,
                "schemaURL": _SCHEMA_URL + "#/$defs/RunEvent",
                "run": {"runId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{namespace}/{job}"))},
                "job": {"namespace": namespace, "name": job, "facets": {"rcaflows": _facet("rcaflows", own)}},
                "inputs": [dataset(d) for d in inputs[job]],
                "outputs": [dataset(d) for d in outputs[job]],
            }
        )
    linked = {d for ds in (*inputs.values(), *outputs.values()) for d in ds}
    for n in lineage.nodes:
        if not is_job(n.name) and n.name not in linked:
            events.append(
                {
                    "eventTime": when,
                    "producer": PRODUCER,
                    "schemaURL": _SCHEMA_URL + "#/$defs/DatasetEvent",
                    "dataset": dataset(n.name),
                }
            )
    return events


def write_events(events: Iterable[Mapping[str, Any]], path: Path) -> Path:
    """Write events as JSON lines; return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e in events))
    return path
