"""The system graph: one edge direction, clients, cycles, blast radius, and one build per config."""

from __future__ import annotations

import yaml

from rcaflows.config import demo_config_path, load_config, parse_config
from rcaflows.config.models import SystemConfig
from rcaflows.graph import NodeKind, SystemGraph, client_node, is_client, system_graph

CFG = load_config()
SERVICE_PATH = {"scoring_api", "gateway", "alerts_dashboard", "chargeback_service"}


def test_every_layer_points_upstream_to_downstream() -> None:
    g = system_graph(CFG)
    # scoring_api depends on geo_api: the dependency is upstream of its caller
    assert g.topology.has_edge("geo_api", "scoring_api") and not g.topology.has_edge("scoring_api", "geo_api")
    # data flows from the source to the job
    assert g.lineage.has_edge("raw_transactions", "etl_features")
    assert not g.lineage.has_edge("etl_features", "raw_transactions")
    # the lineage, mapped to components, joins the component layer in the same direction
    assert g.components.edges["etl", "feature_store"]["via"] == "lineage"
    assert g.components.edges["geo_api", "scoring_api"]["via"] == "topology"
    assert {"geo_api", "feature_db", "feature_store", "etl", "txn_ingest", "fraud_model"} <= g.upstream("scoring_api")
    assert g.downstream("geo_api") == SERVICE_PATH
    assert g.upstream("txn_ingest") == set() and g.upstream("no_such_component") == set()


def test_clients_are_attached_upstream_of_the_entry_services_and_the_model() -> None:
    base = system_graph(CFG)
    client = client_node("c-0666")
    assert client == "client:c-0666" and is_client(client) and not is_client("gateway")
    assert base.client_entries() == ["gateway"]
    g = base.with_clients([client])
    assert set(g.components.successors(client)) == {"gateway", "fraud_model"}
    assert g.components.in_degree(client) == 0  # nothing is upstream of a client
    assert client in g.upstream("fraud_model") and client in g.upstream("alerts_dashboard")
    assert g.components.nodes[client]["node_kind"] == NodeKind.CLIENT
    assert g.components.nodes["gateway"]["node_kind"] == NodeKind.COMPONENT
    assert g.lineage.nodes["feature_store"]["node_kind"] == NodeKind.LINEAGE  # same name, other layer
    # the cached graph is shared: attaching clients must leave it untouched
    assert client not in base.components and client not in system_graph(CFG).components
    assert base.with_clients([]) is base


def cyclic_config() -> SystemConfig:
    """Return the demo system where the transaction ingest calls the chargeback service.

    Neither layer loops, but together they do: txn_ingest feeds (lineage) the model behind
    scoring_api, which chargeback_service calls, which txn_ingest calls (topology).
    """
    raw = yaml.safe_load(demo_config_path().read_text())
    ingest = next(c for c in raw["components"] if c["name"] == "txn_ingest")
    ingest["depends_on"] = ["chargeback_service"]
    return parse_config(yaml.safe_dump(raw), "cyclic.yaml", base_dir=demo_config_path().parent)


def test_a_loop_through_topology_and_lineage_terminates_and_excludes_the_node_itself() -> None:
    g = system_graph(cyclic_config())
    assert g.components.has_edge("chargeback_service", "txn_ingest")  # topology
    assert g.components.has_edge("txn_ingest", "etl")  # lineage
    up, down = g.upstream("scoring_api"), g.downstream("scoring_api")
    assert "scoring_api" not in up and "scoring_api" not in down
    assert {"txn_ingest", "chargeback_service"} <= up & down  # on the loop: both up- and downstream
    radius = g.blast_radius(["scoring_api"])
    assert "scoring_api" not in radius and len(radius) == len(set(radius))
    assert "chargeback_service" in radius and "fraud_model" in radius


def test_blast_radius_of_a_timing_out_dependency_names_its_dependents() -> None:
    g = system_graph(CFG)
    # geo_api has no lineage node: its callers alone make the radius, the cause left out
    assert g.blast_radius(["geo_api"]) == sorted(SERVICE_PATH)
    assert g.service_dependents(["geo_api"]) == SERVICE_PATH
    # a feature database reaches the model through the data it serves (lineage), not through calls
    radius = g.blast_radius(["feature_db"])
    assert "fraud_model" in radius and "scoring_api" in radius and "feature_db" not in radius
    assert "fraud_model" not in g.service_dependents(["feature_db"])
    # a data fault lists the lineage nodes it reaches, the user-facing end first
    data = g.blast_radius(["etl"])
    assert data[:3] == ["fraud_model", "scoring_api", "alerts_dashboard"]
    assert "etl_features" not in data  # the node describing the cause itself is not a victim
    # a listed component that is not a cause (the symptom) is a victim too
    both = g.blast_radius(["geo_api", "scoring_api"], causes=["geo_api"])
    assert both == ["alerts_dashboard", "chargeback_service", "gateway", "scoring_api"]


def test_adjacency_is_symmetric_and_knows_nothing_of_unknown_nodes() -> None:
    g = system_graph(CFG)
    nodes = ["geo_api", "scoring_api", "gateway", "nowhere"]
    adj = g.adjacency(nodes)
    assert adj.tolist() == [
        [False, True, False, False],
        [True, False, True, False],
        [False, True, False, False],
        [False, False, False, False],
    ]


def test_the_graph_is_built_once_per_config_object() -> None:
    assert system_graph(CFG) is system_graph(CFG)
    other = CFG.model_copy(update={"lineage": CFG.lineage.model_copy(update={"edges": []})})
    assert system_graph(other) is not system_graph(CFG)
    assert system_graph(other).lineage.number_of_edges() == 0 < system_graph(CFG).lineage.number_of_edges()
    assert isinstance(SystemGraph.from_config(CFG), SystemGraph)


def test_user_facing_entry_points_are_services_and_consumers_nothing_depends_on() -> None:
    assert system_graph(CFG).user_facing() == ["gateway", "reporting_batch", "alerts_dashboard", "chargeback_service"]


def test_a_column_originates_at_its_most_upstream_producer() -> None:
    g = system_graph(CFG)
    assert g.column_origin("merchant_risk") == "raw_merchants"
    assert g.column_origin("geo_distance_km") == "feature_store"  # feature_store feeds scoring_api
    # seen from feature_store, a producer upstream of it comes first, else any other holder
    assert g.column_origin("merchant_risk", seen_from="feature_store") == "raw_merchants"
    assert g.column_origin("geo_distance_km", seen_from="feature_store") == "scoring_api"
    assert g.column_origin("nope") is None
