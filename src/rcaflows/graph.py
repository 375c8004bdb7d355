"""The system graph: service topology, data lineage and calling clients, built once per config.

**Edge convention** (every graph here): an edge ``u -> v`` points from what is depended on to its
dependent, the way a fault travels.  ``u`` is *upstream* of ``v``:

* topology: ``geo_api -> scoring_api`` when ``scoring_api`` declares ``depends_on: [geo_api]``
  (the reverse of the call: the callee is upstream of its caller);
* lineage: ``raw_transactions -> etl_features`` when data flows from the source to the job
  (as the config's ``lineage.edges`` list them);
* clients: ``client:<id> -> gateway`` and ``client:<id> -> <model>``: a client's requests enter at
  the entry services and its inputs reach the model.

So ``nx.ancestors`` is everything upstream (the candidate causes) and ``nx.descendants`` everything
downstream (what a fault there reaches).  :class:`SystemGraph` holds three layers:

* ``topology``: component nodes and the declared ``depends_on`` edges only;
* ``lineage``: lineage nodes (sources, jobs, datasets, model, serving, consumers) and data-flow edges;
* ``components``: the topology plus the lineage mapped to components (an edge between two lineage
  nodes becomes one between their components) plus the client nodes of :meth:`SystemGraph.with_clients`.

Lineage node names may equal component names, so the lineage stays a layer of its own.  The
loader rejects cycles in the topology and in the lineage, but their union (``components``) may
still loop; every walk here is a reachability query, which terminates on cycles, and never counts
a node as its own upstream or downstream.

:func:`system_graph` builds the graph once per loaded config (configs are frozen, so the cache is
keyed by identity); the graphs it returns are shared and must not be mutated.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

import networkx as nx
import numpy as np

from rcaflows.config.models import ComponentKind, ModelConfig, SystemConfig

#: Prefix of a calling client's node name (``client:<id>``); use :func:`client_node` to build one.
CLIENT_PREFIX = "client:"

#: Lineage node kinds from the user-facing end inwards: the order a blast radius is reported in.
_RADIUS_ORDER = {"model": 0, "serving": 1, "consumer": 2, "dataset": 3, "job": 4, "source": 5}


class NodeKind(StrEnum):
    """What a node of the system graph stands for."""

    COMPONENT = "component"
    LINEAGE = "lineage"
    CLIENT = "client"


def client_node(client: str) -> str:
    """Return the node name of the calling client ``client`` (``client:<id>``)."""
    return f"{CLIENT_PREFIX}{client}"


def client_id(node: str) -> str:
    """Return the client id of a ``client:<id>`` node (the inverse of :func:`client_node`)."""
    return node.removeprefix(CLIENT_PREFIX)


def is_client(node: str) -> bool:
    """Return whether ``node`` names a calling client."""
    return node.startswith(CLIENT_PREFIX)


@dataclass(frozen=True, eq=False)  # compared and hashed by identity, like the cached config it wraps
class SystemGraph:
    """The topology, lineage and component graphs of one system (edges upstream -> downstream).

    Attributes:
        config: the system the graph was built from.
        topology: components, edge ``d -> c`` when component ``c`` depends on ``d``.
        lineage: lineage nodes, edge ``u -> v`` when data flows from u to v.
        components: the topology, the lineage mapped to components, and attached clients.
    """

    config: SystemConfig
    topology: nx.DiGraph
    lineage: nx.DiGraph
    components: nx.DiGraph

    @classmethod
    def from_config(cls, config: SystemConfig) -> SystemGraph:
        """Build the three layers from a config (use :func:`system_graph` for the cached one)."""
        topo = nx.DiGraph()
        for c in config.components:
            topo.add_node(c.name, node_kind=NodeKind.COMPONENT, kind=str(c.kind), team=c.team)
        for c in config.components:
            topo.add_edges_from((dep, c.name) for dep in c.depends_on)
        lin = nx.DiGraph()
        for n in config.lineage.nodes:
            lin.add_node(
                n.name, node_kind=NodeKind.LINEAGE, kind=str(n.kind), component=n.component, columns=list(n.columns)
            )
        lin.add_edges_from(config.lineage.edges)
        comps = nx.DiGraph()
        comps.add_nodes_from(topo.nodes(data=True))
        comps.add_edges_from(topo.edges, via="topology")
        owner = nx.get_node_attributes(lin, "component")
        for u, v in lin.edges:
            cu, cv = owner.get(u), owner.get(v)
            if cu and cv and cu != cv and not comps.has_edge(cu, cv):
                comps.add_edge(cu, cv, via="lineage")
        return cls(config=config, topology=topo, lineage=lin, components=comps)

    # ----- clients --------------------------------------------------------------------------

    def client_entries(self) -> list[str]:
        """Return where outside clients call in: services that depend on something and nothing depends on.

        Falls back to the models' components when the topology has no such service.
        """
        t = self.topology
        entries = [
            c.name
            for c in self.config.components
            if c.kind == ComponentKind.SERVICE and t.out_degree(c.name) == 0 and t.in_degree(c.name) > 0
        ]
        if not entries:
            entries = list(dict.fromkeys(m.component for m in self.config.models))
        return entries

    def with_clients(self, clients: Iterable[str]) -> SystemGraph:
        """Return a copy whose component layer has the ``client:<id>`` nodes upstream of the serving path.

        A client's requests enter at :meth:`client_entries` and its inputs reach the models (every
        model: which ones a client calls is in the data, not the config), so a query flood links the
        traffic at the gateway and the odd inputs at a model to the client, the most upstream member
        of the group.  Returns ``self`` when there is no client.
        """
        nodes = sorted(set(clients) - set(self.components))
        if not nodes:
            return self
        comps = self.components.copy()
        targets = list(self.client_entries())
        for model in self.config.models:
            if model.component in comps and model.component not in targets:
                targets.append(model.component)
        for client in nodes:
            comps.add_node(client, node_kind=NodeKind.CLIENT, kind="client")
            comps.add_edges_from(((client, t) for t in targets), via="client")
        return SystemGraph(config=self.config, topology=self.topology, lineage=self.lineage, components=comps)

    # ----- walks ----------------------------------------------------------------------------

    def upstream(self, node: str) -> set[str]:
        """Return every component-layer node ``node`` depends on, directly or not (empty when unknown)."""
        return nx.ancestors(self.components, node) if node in self.components else set()

    def downstream(self, node: str) -> set[str]:
        """Return every component-layer node that depends on ``node``, directly or not (empty when unknown)."""
        return nx.descendants(self.components, node) if node in self.components else set()

    def adjacency(self, nodes: Sequence[str]) -> np.ndarray:
        """Return the boolean matrix of which ``nodes`` share a component-layer edge, either way.

        A node the graph does not know is adjacent to nothing; the diagonal is False.
        """
        index = {n: i for i, n in enumerate(nodes)}
        adj = np.zeros((len(nodes), len(nodes)), dtype=bool)
        for u, v in self.components.subgraph(index).edges:
            adj[index[u], index[v]] = adj[index[v], index[u]] = True
        np.fill_diagonal(adj, False)
        return adj

    def service_dependents(self, components: Iterable[str]) -> set[str]:
        """Return the components that call ``components``, directly or not, in the declared topology alone."""
        out: set[str] = set()
        for c in components:
            if c in self.topology:
                out |= nx.descendants(self.topology, c)
        return out

    def user_facing(self) -> list[str]:
        """Return the declared services and consumers no component depends on (the user-facing entry points)."""
        kinds = (ComponentKind.SERVICE, ComponentKind.CONSUMER)
        return [c.name for c in self.config.components if c.kind in kinds and self.topology.out_degree(c.name) == 0]

    def models_reached(self, components: Iterable[str]) -> list[ModelConfig]:
        """Return the models a fault at ``components`` reaches, in config order.

        A model is reached when its component is involved or calls an involved one (directly or
        not, in the declared topology), or when an involved component owns a lineage node upstream
        of (or at) the model's node. A component the config does not declare (a calling client)
        may feed any model, so it reaches them all.
        """
        comps = set(components)
        declared = set(self.topology) | {c for _, c in self.lineage.nodes(data="component") if c}
        if comps - declared:
            return list(self.config.models)
        reach = comps | self.service_dependents(comps)
        owner = nx.get_node_attributes(self.lineage, "component")
        out = []
        for m in self.config.models:
            node = m.lineage_node
            up = (nx.ancestors(self.lineage, node) | {node}) if node in self.lineage else set()
            if m.component in reach or any(owner.get(n) in comps for n in up):
                out.append(m)
        return out

    def lineage_node_of(self, component: str) -> str | None:
        """Return the lineage node describing ``component``, else the one of its nearest dependency."""
        lin = self.lineage
        nodes = [n for n, c in lin.nodes(data="component") if c == component]
        if nodes:
            order = {"model": 0, "serving": 1, "dataset": 2, "job": 3, "source": 4, "consumer": 5}
            return sorted(nodes, key=lambda n: order.get(str(lin.nodes[n].get("kind")), 9))[0]
        if component in self.topology:
            by_dist = nx.single_source_shortest_path_length(self.topology.reverse(copy=False), component)
            for dep, _ in sorted(by_dist.items(), key=lambda kv: kv[1]):
                hits = [n for n, c in lin.nodes(data="component") if c == dep]
                if hits:
                    return hits[0]
        return None

    def column_origin(self, column: str, seen_from: str | None = None) -> str | None:
        """Return the most upstream lineage node that lists ``column`` (None when none does).

        Seen from the lineage node ``seen_from`` (left out), producers upstream of it come first;
        ties go to the node with the fewest upstream nodes, then by name.
        """
        lin = self.lineage
        holders = [n for n, cols in lin.nodes(data="columns") if cols and column in cols and n != seen_from]
        if not holders:
            return None
        if seen_from is not None and seen_from in lin:
            above = nx.ancestors(lin, seen_from)
            holders = [n for n in holders if n in above] or holders
        roots = [n for n in holders if not any(m in nx.ancestors(lin, n) for m in holders)]
        return min(roots or holders, key=lambda n: (len(nx.ancestors(lin, n)), n))

    def blast_radius(self, components: Iterable[str], causes: Iterable[str] | None = None) -> list[str]:
        """Return what a fault at ``components`` reaches.

        First the lineage nodes downstream of theirs (models, serving endpoints and consumers
        first), then the components downstream of them in the component layer that no listed
        lineage node describes, leaving out ``causes`` (by default ``components`` themselves).
        A timing-out dependency thus takes its callers in even when no lineage node describes it.
        """
        comps = list(components)
        starts = {n for c in comps if (n := self.lineage_node_of(c)) is not None}
        down: set[str] = set()
        for n in starts:
            down |= nx.descendants(self.lineage, n)
        nodes = sorted(down, key=lambda n: (_RADIUS_ORDER.get(str(self.lineage.nodes[n].get("kind")), 9), n))
        dependents: set[str] = set()
        for c in comps:
            dependents |= self.downstream(c)
        covered = {self.lineage.nodes[n].get("component") for n in nodes} | set(nodes)
        covered |= set(comps if causes is None else causes)
        return nodes + sorted(dependents - covered)


class _ByIdentity:
    """Hash and compare a config by identity, so the graph cache never hashes its content."""

    __slots__ = ("config",)

    def __init__(self, config: SystemConfig) -> None:
        self.config = config

    def __hash__(self) -> int:
        return id(self.config)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _ByIdentity) and other.config is self.config


@lru_cache(maxsize=32)
def _cached(key: _ByIdentity) -> SystemGraph:
    return SystemGraph.from_config(key.config)


def system_graph(config: SystemConfig) -> SystemGraph:
    """Return the system graph of ``config``, built once per config object (configs are frozen)."""
    return _cached(_ByIdentity(config))
